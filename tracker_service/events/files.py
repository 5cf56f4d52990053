"""`events.jsonl` and its JPEG snapshots, beside a video's other outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from tracker_service.closing import Closing
from tracker_service.events.model import Event

EVENTS_FILE = "events.jsonl"
COUNTS_FILE = "counts.json"
SNAPSHOT_DIR = "snapshots"
MAX_SNAPSHOTS = 10_000


class EventFileWriter(Closing):
    """One JSON object per event; each snapshot in `snapshots/NNNNNN.jpg` (bounded count)."""

    def __init__(self, out_dir: Path, max_snapshots: int = MAX_SNAPSHOTS) -> None:
        self.out_dir = out_dir
        self.max_snapshots = max_snapshots
        self.written = 0
        self._snapshots = 0
        (out_dir / SNAPSHOT_DIR).mkdir(parents=True, exist_ok=True)
        self._handle: TextIO = (out_dir / EVENTS_FILE).open("w", encoding="utf-8")

    def emit(self, event: Event, snapshot: bytes | None) -> None:
        path: str | None = None
        if snapshot is not None and self._snapshots < self.max_snapshots:
            path = f"{SNAPSHOT_DIR}/{self.written:06d}.jpg"
            (self.out_dir / path).write_bytes(snapshot)
            self._snapshots += 1
        record = event.with_(snapshot=path).to_dict()
        record.pop("id", None)
        self._handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.written += 1

    def close(self) -> None:
        self._handle.close()


def write_counts(out_dir: Path, counts: dict[str, object]) -> Path:
    path = out_dir / COUNTS_FILE
    path.write_text(json.dumps(counts, indent=2) + "\n", encoding="utf-8")
    return path
