"""Reading MOTChallenge text files (ground truth and tracker results) and `seqinfo.ini`.

A MOTChallenge row is `frame, id, left, top, width, height, conf, x, y, z` (frames 1-based).
Ground truth reuses the columns: in MOT15 the 7th column is a flag (0 = ignore the box) and
columns 8-10 are world coordinates (-1); from MOT16 on the 7th is the same flag, the 8th the
class (1 = pedestrian, others are distractors or ignored objects) and the 9th the visibility.

Every row is validated here, so that later stages never see a malformed value: errors name
the file and the line.
"""

from __future__ import annotations

import configparser
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tracker_service.evaluation.errors import MotFormatError

IntArray = NDArray[np.int64]
Float64Array = NDArray[np.float64]

GT_MIN_COLUMNS = 7  # frame, id, left, top, width, height, consider-flag
RESULTS_MIN_COLUMNS = 6  # frame, id, left, top, width, height
_USED_COLUMNS = 10  # frame .. z; columns after the 10th are ignored
_DEFAULT_CONFIDENCE = 1.0


@dataclass(frozen=True, slots=True)
class MotRows:
    """The rows of one MOTChallenge file, in file order, as arrays.

    `confidence` is column 7: a tracker's score in results, the consider flag in ground truth
    (0 = ignore this box). `extra` holds columns 8-10 as written (NaN where a row is shorter):
    world coordinates in MOT15, class and visibility from MOT16 on; `columns` is how many
    columns each row had and `lines` its 1-based line number in `source`.
    """

    source: str
    frames: IntArray
    ids: IntArray
    tlwh: Float64Array
    confidence: Float64Array
    extra: Float64Array
    columns: IntArray
    lines: IntArray

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def max_frame(self) -> int:
        return int(self.frames.max()) if len(self.frames) else 0

    def line_of(self, row: int) -> int:
        return int(self.lines[row])


@dataclass(frozen=True, slots=True)
class SequenceInfo:
    """What a sequence's `seqinfo.ini` says (the fields that may be absent are None)."""

    name: str
    length: int | None
    frame_rate: float | None
    width: int | None
    height: int | None


def read_mot_file(
    path: Path, min_columns: int = RESULTS_MIN_COLUMNS, unique_ids: bool = True
) -> MotRows:
    """Read and validate a MOTChallenge file; raises MotFormatError naming the line.

    `unique_ids=False` allows an id to repeat within a frame, as in detection files (id -1).
    """
    try:
        with path.open(encoding="utf-8", newline=None) as stream:
            return parse_mot_lines(stream, str(path), min_columns, unique_ids)
    except UnicodeDecodeError as exc:
        raise MotFormatError(path, None, f"not a UTF-8 text file ({exc.reason})") from exc


def parse_mot_lines(
    lines: Iterable[str], source: str, min_columns: int, unique_ids: bool = True
) -> MotRows:
    """Parse MOTChallenge rows (comma- or whitespace-separated); blank lines are skipped."""
    numbers: list[int] = []
    counts: list[int] = []
    rows: list[list[float]] = []
    for number, text in enumerate(lines, start=1):
        fields = _split(text)
        if not fields:
            continue
        rows.append(_parse_row(fields, source, number, min_columns))
        numbers.append(number)
        counts.append(len(fields))
    table = np.array(rows, dtype=np.float64).reshape(-1, _USED_COLUMNS)
    mot_rows = MotRows(
        source=source,
        frames=table[:, 0].astype(np.int64),
        ids=table[:, 1].astype(np.int64),
        tlwh=np.ascontiguousarray(table[:, 2:6]),
        confidence=np.ascontiguousarray(table[:, 6]),
        extra=np.ascontiguousarray(table[:, 7:]),
        columns=np.array(counts, dtype=np.int64),
        lines=np.array(numbers, dtype=np.int64),
    )
    if unique_ids:
        _check_unique_ids(mot_rows)
    return mot_rows


def _split(text: str) -> list[str]:
    stripped = text.strip()
    if not stripped:
        return []
    if "," not in stripped:
        return stripped.split()
    fields = [field.strip() for field in stripped.split(",")]
    if fields[-1] == "":  # a trailing comma
        fields.pop()
    return fields


def _parse_row(fields: list[str], source: str, line: int, min_columns: int) -> list[float]:
    if len(fields) < min_columns:
        raise MotFormatError(
            source, line, f"expected at least {min_columns} columns, found {len(fields)}"
        )
    values: list[float] = []
    for column, field in enumerate(fields[:_USED_COLUMNS], start=1):
        try:
            value = float(field)
        except ValueError:
            raise MotFormatError(
                source, line, f"column {column} is not a number: {field!r}"
            ) from None
        if not np.isfinite(value):
            raise MotFormatError(source, line, f"column {column} is not finite: {field!r}")
        values.append(value)
    _check_row(values, source, line)
    return _pad(values)


def _check_row(values: list[float], source: str, line: int) -> None:
    frame, track_id, _, _, width, height = values[:6]
    if frame != int(frame) or frame < 1:
        raise MotFormatError(source, line, f"frame must be a whole number >= 1, got {frame:g}")
    if track_id != int(track_id):
        raise MotFormatError(source, line, f"id must be a whole number, got {track_id:g}")
    if width < 0 or height < 0:
        raise MotFormatError(source, line, f"negative box size {width:g}x{height:g}")


def _pad(values: list[float]) -> list[float]:
    if len(values) == 6:
        values = [*values, _DEFAULT_CONFIDENCE]
    return values + [np.nan] * (_USED_COLUMNS - len(values))


def _check_unique_ids(rows: MotRows) -> None:
    """An id may appear once per frame; a repeat is an error naming both lines."""
    if len(rows) < 2:
        return
    order = np.lexsort((rows.ids, rows.frames))
    frames, ids = rows.frames[order], rows.ids[order]
    repeated = np.flatnonzero((frames[1:] == frames[:-1]) & (ids[1:] == ids[:-1]))
    if len(repeated):
        first, second = sorted((int(order[repeated[0]]), int(order[repeated[0] + 1])))
        raise MotFormatError(
            rows.source,
            rows.line_of(second),
            f"id {rows.ids[second]} appears twice in frame {rows.frames[second]} "
            f"(also on line {rows.line_of(first)})",
        )


def read_seqinfo(path: Path) -> SequenceInfo:
    """Read a MOTChallenge `seqinfo.ini` ([Sequence] name, seqLength, frameRate, imWidth...)."""
    parser = configparser.ConfigParser()
    try:
        with path.open(encoding="utf-8") as stream:
            parser.read_file(stream)
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise MotFormatError(path, None, f"not a valid ini file: {exc}") from exc
    if not parser.has_section("Sequence"):
        raise MotFormatError(path, None, "no [Sequence] section")
    section = parser["Sequence"]
    return SequenceInfo(
        name=section.get("name", path.parent.name),
        length=_positive_int(section.get("seqLength"), "seqLength", path),
        frame_rate=_positive_float(section.get("frameRate"), "frameRate", path),
        width=_positive_int(section.get("imWidth"), "imWidth", path),
        height=_positive_int(section.get("imHeight"), "imHeight", path),
    )


def _positive_float(text: str | None, key: str, path: Path) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise MotFormatError(path, None, f"{key} is not a number: {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise MotFormatError(path, None, f"{key} must be positive, got {text!r}")
    return value


def _positive_int(text: str | None, key: str, path: Path) -> int | None:
    value = _positive_float(text, key, path)
    if value is None:
        return None
    if value != int(value):
        raise MotFormatError(path, None, f"{key} must be a whole number, got {text!r}")
    return int(value)
