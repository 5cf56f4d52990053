"""Zones and lines of one camera or video: what they are and how they are validated.

Coordinates are NORMALISED to the frame: x and y in [0, 1], (0, 0) the top-left corner,
(1, 1) the bottom-right one, y pointing down as in the image. Normalised coordinates keep a
zone valid when a camera changes resolution and let the console draw on a scaled snapshot;
they become pixels once the frame size is known (`to_pixels`).

* A **zone** is a simple polygon (at least 3 points, not self-intersecting).
* A **line** is a segment from `start` to `end`. Walking from `start` to `end` in the image,
  the side on your RIGHT is "in": crossing from the left-hand side to the right-hand side is
  an `in` crossing, the other way an `out` one. For a horizontal line drawn left to right,
  moving down the image is `in`; swap `start` and `end` to turn it round.
* A person is in a zone or on a side of a line by the **anchor** of their box: its bottom
  centre, where the feet are.

Validation (`ZoneSet.model_validate`) rejects with a message naming the zone or line: fewer
than 3 points, a self-intersecting polygon (shapely's `explain_validity` says where), a point
outside [0, 1], a zero-length line, duplicate names, too many zones or points.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import shapely
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from shapely.validation import explain_validity

MAX_ZONES = 32
MAX_LINES = 32
MAX_POINTS = 64
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")

Coordinate = Annotated[float, Field(allow_inf_nan=False)]
Point = tuple[Coordinate, Coordinate]


class ZoneSpecError(ValueError):
    """Zones or lines that cannot be used; the message says which and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"name {name!r} must be 1-64 letters, digits, spaces, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def _check_inside_frame(owner: str, points: Iterable[Point]) -> None:
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(
                f"{owner}: point ({x:g}, {y:g}) is outside the frame "
                "(coordinates are normalised: 0 <= x, y <= 1)"
            )


class ZoneSpec(_Strict):
    """A polygon; a person whose anchor is inside it is in the zone."""

    name: str
    points: list[Point] = Field(max_length=MAX_POINTS)

    _name = field_validator("name")(_check_name)

    @model_validator(mode="after")
    def _valid_polygon(self) -> ZoneSpec:
        owner = f"zone {self.name!r}"
        if len(self.points) < 3:
            raise ValueError(f"{owner}: a polygon needs at least 3 points, got {len(self.points)}")
        _check_inside_frame(owner, self.points)
        polygon = shapely.Polygon(self.points)
        if not polygon.is_valid:
            # e.g. "Self-intersection[0.5 0.5]": shapely names the fault and where it is.
            raise ValueError(f"{owner}: not a simple polygon ({explain_validity(polygon)})")
        if polygon.area <= 0.0:
            raise ValueError(f"{owner}: the polygon has no area")
        return self


class LineSpec(_Strict):
    """A segment; crossing it from its left-hand side to its right-hand side is `in`."""

    name: str
    start: Point
    end: Point

    _name = field_validator("name")(_check_name)

    @model_validator(mode="after")
    def _valid_segment(self) -> LineSpec:
        owner = f"line {self.name!r}"
        _check_inside_frame(owner, (self.start, self.end))
        if shapely.LineString([self.start, self.end]).length <= 0.0:
            raise ValueError(f"{owner}: start and end are the same point")
        return self


class ZoneSet(_Strict):
    """All zones and lines of one camera or video."""

    zones: list[ZoneSpec] = Field(default_factory=list, max_length=MAX_ZONES)
    lines: list[LineSpec] = Field(default_factory=list, max_length=MAX_LINES)

    @model_validator(mode="after")
    def _unique_names(self) -> ZoneSet:
        seen: set[str] = set()
        for name in [zone.name for zone in self.zones] + [line.name for line in self.lines]:
            if name in seen:
                raise ValueError(f"name {name!r} is used twice (zone and line names are unique)")
            seen.add(name)
        return self

    @property
    def empty(self) -> bool:
        return not self.zones and not self.lines


def describe_errors(error: ValidationError) -> str:
    """One readable line from pydantic's errors: where, then what."""
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_zone_set(data: Any) -> ZoneSet:
    """A validated `ZoneSet` from plain data, or `ZoneSpecError` saying what is wrong."""
    if data is None:
        return ZoneSet()
    try:
        return ZoneSet.model_validate(data)
    except ValidationError as exc:
        raise ZoneSpecError(describe_errors(exc)) from None


def load_zone_file(path: Path) -> ZoneSet:
    """Zones and lines from a YAML (or JSON) file; see docs in this module and the README."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ZoneSpecError(f"cannot read zones file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ZoneSpecError(f"zones file {path} is not valid YAML: {exc}") from None
    try:
        return parse_zone_set(data)
    except ZoneSpecError as exc:
        raise ZoneSpecError(f"zones file {path}: {exc}") from None
