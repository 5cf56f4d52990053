"""Zones and lines in pixels, and where box anchors are relative to them.

Shapely does the geometry: point-in-polygon for every anchor of a frame at once
(`shapely.contains_xy`, vectorised) and, for lines, the position of the anchor along the
segment (`project`) and its distance from it. The side of a line is the sign of the 2-D cross
product of the segment and the anchor, which shapely has no function for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from tracker_service.zones.spec import LineSpec, ZoneSet, ZoneSpec

Box = tuple[float, float, float, float]
Array = NDArray[np.float64]


def anchors_of(boxes: list[Box]) -> Array:
    """Bottom centre of each (x1, y1, x2, y2) box: where a person stands."""
    if not boxes:
        return np.zeros((0, 2), np.float64)
    xyxy = np.asarray(boxes, dtype=np.float64)
    return np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2.0, xyxy[:, 3]], axis=1)


@dataclass(frozen=True)
class PixelZone:
    name: str
    polygon: shapely.Polygon

    def contains(self, anchors: Array) -> NDArray[np.bool_]:
        if not len(anchors):
            return np.zeros(0, bool)
        # `covers` semantics (boundary counts as inside) so an anchor exactly on an edge is in.
        inside = shapely.contains_xy(self.polygon, anchors[:, 0], anchors[:, 1])
        on_edge = shapely.intersects_xy(self.polygon.exterior, anchors[:, 0], anchors[:, 1])
        return np.asarray(inside | on_edge, dtype=bool)


@dataclass(frozen=True)
class PixelLine:
    name: str
    segment: shapely.LineString

    def sides(self, anchors: Array, band_px: float) -> NDArray[np.int8]:
        """+1 on the `in` (right-hand) side, -1 on the `out` side, 0 when undecided: within
        `band_px` of the line (jitter on the line never flips a side) or beyond its ends."""
        result = np.zeros(len(anchors), np.int8)
        if not len(anchors):
            return result
        (x1, y1), (x2, y2) = self.segment.coords
        points = shapely.points(anchors)
        along = shapely.line_locate_point(self.segment, points)
        distance = shapely.distance(self.segment, points)
        cross = (x2 - x1) * (anchors[:, 1] - y1) - (y2 - y1) * (anchors[:, 0] - x1)
        # Image y points down, so a positive cross product is on the right-hand side.
        decided = (distance > band_px) & (along > 0.0) & (along < self.segment.length)
        result[decided & (cross > 0)] = 1
        result[decided & (cross < 0)] = -1
        return result


def _scale(points: list[tuple[float, float]], size: tuple[int, int]) -> list[tuple[float, float]]:
    width, height = size
    return [(x * width, y * height) for x, y in points]


def zone_in_pixels(zone: ZoneSpec, size: tuple[int, int]) -> PixelZone:
    return PixelZone(zone.name, shapely.Polygon(_scale(list(zone.points), size)))


def line_in_pixels(line: LineSpec, size: tuple[int, int]) -> PixelLine:
    return PixelLine(line.name, shapely.LineString(_scale([line.start, line.end], size)))


def to_pixels(zone_set: ZoneSet, size: tuple[int, int]) -> tuple[list[PixelZone], list[PixelLine]]:
    """The zone set for frames of `size` (width, height)."""
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"frame size must be positive, got {size}")
    return (
        [zone_in_pixels(zone, size) for zone in zone_set.zones],
        [line_in_pixels(line, size) for line in zone_set.lines],
    )
