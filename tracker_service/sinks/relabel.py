"""A finished file run's `tracks.jsonl` (and `mot.txt` by identity) rewritten with each track
under its final identity (`identity.final_labels`), streamed line by line, swapped in whole."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from tracker_service.identity.final_labels import FrameLabels
from tracker_service.sinks.mot import format_mot_row


def rewrite_files(tracks_file: Path, mot_file: Path | None, final: Mapping[int, int]) -> None:
    """Rewrite `tracks_file` and, when given (written by identity), `mot_file`."""
    staged_tracks = tracks_file.with_name(tracks_file.name + ".part")
    staged_mot = mot_file.with_name(mot_file.name + ".part") if mot_file is not None else None
    with (
        tracks_file.open(encoding="utf-8") as source,
        staged_tracks.open("w", encoding="utf-8") as tracks_out,
        staged_mot.open("w", encoding="utf-8") if staged_mot else nullcontext() as mot_out,
    ):
        for line in source:
            document = json.loads(line)
            _relabel_frame(document, final)
            tracks_out.write(json.dumps(document, separators=(",", ":")) + "\n")
            if mot_out is not None:
                mot_out.writelines(_mot_rows(document))
    os.replace(staged_tracks, tracks_file)
    if staged_mot is not None and mot_file is not None:
        os.replace(staged_mot, mot_file)


def _relabel_frame(document: dict[str, Any], final: Mapping[int, int]) -> None:
    labels = FrameLabels(final)
    for track in document["tracks"]:
        track["identity_id"] = labels.identity(int(track["track_id"]))
        track["identity_provisional"] = False  # the run is over: nothing is revised any more


def _mot_rows(document: dict[str, Any]) -> Iterable[str]:
    frame = int(document["frame"]) + 1
    for track in document["tracks"]:
        if track["identity_id"] is None:
            continue  # mot.txt by identity leaves out boxes without one
        x1, y1, x2, y2 = track["box_xyxy"]
        yield format_mot_row(
            frame, track["identity_id"], (x1, y1, x2 - x1, y2 - y1), track["score"]
        )
