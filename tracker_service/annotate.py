"""Drawing tracks on frames: boxes coloured and labelled by global identity."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import cv2
import numpy as np

from tracker_service.types import Frame, TrackRecord, TrackState

LabelLookup = Callable[[int], str | None]
_GOLDEN_RATIO = 0.618033988749895


def identity_colour(key: int) -> tuple[int, int, int]:
    """A stable, well-spread BGR colour per identity (golden-ratio hue steps)."""
    hue = int(((key * _GOLDEN_RATIO) % 1.0) * 179)
    hsv = np.array([[[hue, 200, 255]]], dtype=np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def record_label(record: TrackRecord, lookup: LabelLookup | None = None) -> str:
    """One numbering for people: the identity (a name, or `ID n`) once it is known, `new`
    before, `ID n?` while it may still change; the per-camera track number follows as a
    detail (`t8`), so that the frames of one person read as one even before and after their
    identity was decided. ASCII only: OpenCV's Hershey fonts draw nothing else."""
    if record.identity_id is None:
        return f"new (t{record.track_id})"
    name = lookup(record.identity_id) if lookup else None
    doubt = "?" if record.identity_provisional else ""  # may still change
    return f"{name or f'ID {record.identity_id}'}{doubt} (t{record.track_id})"


def draw_tracks(
    frame: Frame, records: Iterable[TrackRecord], lookup: LabelLookup | None = None
) -> Frame:
    """A copy of `frame` with each record's box and label."""
    canvas = frame.copy()
    thickness = max(1, round(min(frame.shape[:2]) / 300))
    scale = max(0.4, min(frame.shape[:2]) / 900)
    for record in records:
        key = record.identity_id if record.identity_id is not None else -record.track_id
        colour = identity_colour(key)
        x1, y1, x2, y2 = (round(v) for v in record.xyxy)
        style = cv2.LINE_AA
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, style)
        if record.state is TrackState.TENTATIVE:
            continue
        text = record_label(record, lookup)
        (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(0, y1 - height - baseline - 2)
        cv2.rectangle(canvas, (x1, top), (x1 + width + 4, top + height + baseline + 2), colour, -1)
        cv2.putText(
            canvas,
            text,
            (x1 + 2, top + height + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 0, 0),
            1,
            style,
        )
    return canvas
