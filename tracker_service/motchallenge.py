"""Running on MOTChallenge sequences: the sequence's frame rate and length, and its public
detections (`det/det.txt`) frame by frame. Parsing is `evaluation.mot_files`'."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracker_service.evaluation.errors import MotFormatError
from tracker_service.evaluation.mot_files import GT_MIN_COLUMNS, read_mot_file
from tracker_service.evaluation.mot_files import read_seqinfo as read_seqinfo_file
from tracker_service.types import Detections


@dataclass(frozen=True)
class SequenceInfo:
    name: str
    frame_rate: float
    length: int


def read_seqinfo(sequence_dir: Path) -> SequenceInfo:
    """Name, frame rate and length of a sequence folder (both are required to track it)."""
    path = sequence_dir / "seqinfo.ini"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (is {sequence_dir} a MOTChallenge sequence?)")
    info = read_seqinfo_file(path)
    if info.frame_rate is None or info.length is None:
        raise MotFormatError(path, None, "frameRate and seqLength are needed to track")
    return SequenceInfo(info.name, info.frame_rate, info.length)


def iter_detections(path: Path, length: int) -> Iterator[tuple[int, Detections]]:
    """(frame, detections) for frames 1..length, empty frames included."""
    rows = read_mot_file(path, min_columns=GT_MIN_COLUMNS, unique_ids=False)
    order = np.argsort(rows.frames, kind="stable")
    frames, tlwh, scores = rows.frames[order], rows.tlwh[order], rows.confidence[order]
    starts = np.searchsorted(frames, np.arange(1, length + 2))
    for frame in range(1, length + 1):
        chunk = slice(starts[frame - 1], starts[frame])
        left_top = tlwh[chunk, :2]
        xyxy = np.hstack([left_top, left_top + tlwh[chunk, 2:]])
        yield frame, Detections(xyxy.astype(np.float32), scores[chunk].astype(np.float32))
