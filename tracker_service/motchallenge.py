"""Reading MOTChallenge sequences: `seqinfo.ini` and public detections (`det/det.txt`).

Rows are `frame,id,left,top,width,height,conf,x,y,z` with 1-based frames.
"""

from __future__ import annotations

import configparser
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tracker_service.types import Detections


class MotFormatError(ValueError):
    """A MOTChallenge file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class SequenceInfo:
    name: str
    frame_rate: float
    length: int
    width: int | None = None
    height: int | None = None


def read_seqinfo(sequence_dir: Path) -> SequenceInfo:
    path = sequence_dir / "seqinfo.ini"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (is {sequence_dir} a MOTChallenge sequence?)")
    parser = configparser.ConfigParser()
    parser.read(path, encoding="utf-8")
    if "Sequence" not in parser:
        raise MotFormatError(f"{path}: no [Sequence] section")
    section = parser["Sequence"]
    try:
        return SequenceInfo(
            name=section.get("name", sequence_dir.name),
            frame_rate=float(section["frameRate"]),
            length=int(section["seqLength"]),
            width=section.getint("imWidth"),
            height=section.getint("imHeight"),
        )
    except (KeyError, ValueError) as exc:
        raise MotFormatError(f"{path}: missing or invalid field ({exc})") from None


def read_mot_rows(path: Path, min_columns: int = 7) -> NDArray[np.float64]:
    """All rows of a MOTChallenge text file as a float array (CRLF and blank lines allowed)."""
    rows: list[list[float]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                values = [float(v) for v in text.split(",")]
            except ValueError:
                raise MotFormatError(f"{path}:{number}: not comma-separated numbers") from None
            if len(values) < min_columns:
                raise MotFormatError(
                    f"{path}:{number}: {len(values)} columns, expected at least {min_columns}"
                )
            rows.append(values[:10])
    if not rows:
        return np.zeros((0, 10))
    width = max(len(r) for r in rows)
    return np.array([r + [-1.0] * (width - len(r)) for r in rows])


def iter_detections(path: Path, length: int) -> Iterator[tuple[int, Detections]]:
    """(frame, detections) for frames 1..length, empty frames included."""
    rows = read_mot_rows(path)
    frames = rows[:, 0].astype(np.int64) if len(rows) else np.zeros(0, np.int64)
    order = np.argsort(frames, kind="stable")
    rows, frames = rows[order], frames[order]
    starts = np.searchsorted(frames, np.arange(1, length + 2))
    for frame in range(1, length + 1):
        chunk = rows[starts[frame - 1] : starts[frame]]
        xyxy = np.column_stack(
            [chunk[:, 2], chunk[:, 3], chunk[:, 2] + chunk[:, 4], chunk[:, 3] + chunk[:, 5]]
        )
        yield frame, Detections(xyxy.astype(np.float32), chunk[:, 6].astype(np.float32))
