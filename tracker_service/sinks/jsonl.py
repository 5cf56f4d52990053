"""JSON Lines writer: one object per frame, `{"frame", "timestamp_s", "tracks": [...]}`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from tracker_service.closing import Closing
from tracker_service.types import FrameResult


def frame_to_dict(result: FrameResult) -> dict[str, object]:
    return {
        "frame": result.frame_index,
        "timestamp_s": round(result.timestamp_s, 4),
        "tracks": [record.to_dict() for record in result.tracks],
    }


class JsonLinesWriter(Closing):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: TextIO = path.open("w", encoding="utf-8")

    def write(self, result: FrameResult) -> None:
        self._handle.write(json.dumps(frame_to_dict(result), separators=(",", ":")) + "\n")

    def close(self) -> None:
        self._handle.close()
