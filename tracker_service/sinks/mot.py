"""MOTChallenge result writer: `frame,id,left,top,width,height,conf,-1,-1,-1`, 1-based frames."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from tracker_service.closing import Closing
from tracker_service.types import TrackRecord


def format_mot_row(frame: int, track_id: int, tlwh: Iterable[float], score: float) -> str:
    left, top, width, height = tlwh
    return (
        f"{frame},{track_id},{left:.2f},{top:.2f},{width:.2f},{height:.2f},{score:.4f},-1,-1,-1\n"
    )


class MotWriter(Closing):
    """Writes tracks to a MOTChallenge txt; `frame_index` of records is 0-based."""

    def __init__(self, path: Path, use_identity: bool = False) -> None:
        self.path = path
        # With use_identity the global identity is the ID column (tracks with none are left
        # out); otherwise the per-stream track ID is, which is what MOT metrics expect.
        self.use_identity = use_identity
        self._handle: TextIO = path.open("w", encoding="utf-8")

    def write(self, records: Iterable[TrackRecord]) -> None:
        for record in records:
            track_id = record.identity_id if self.use_identity else record.track_id
            if track_id is None:
                continue
            self._handle.write(
                format_mot_row(record.frame_index + 1, track_id, record.tlwh, record.score)
            )

    def close(self) -> None:
        self._handle.close()
