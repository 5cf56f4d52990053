"""Hindsight for file runs: each track written as the whole run saw it, not frame by frame.

Live, a frame's tracks are final with the frame: a person hidden for a few frames leaves a
gap in their track, and a person walking in is shown only once a box of theirs is confident
(`new_track_score`) and the track confirmed (`confirm_hits`); at the edge of the picture, where
half a person is in view, that is several frames late. A file run can wait. `Hindsight` holds
its results back a short while (`output.hindsight_s`), and before a result is written:

* a track lost and found again within that while has its gap filled, linearly between the box
  before and the box after (the offline interpolation of ByteTrack and BoT-SORT): records in
  state `lost`;
* a new track starts where the detector first saw it: from its first shown box back, the
  weaker boxes that no track showed and that continue it by the tracker's own rule for weak
  boxes (score >= `low_score`, buffered IoU >= `second_stage_min_iou`): records in state
  `tentative`, with the detector's score.

Only results are held (small, bounded by the window), never frames: the annotated video and
the events show what was seen as it was seen; `tracks.jsonl`, `mot.txt` and the scores take
the completed tracks. Once the run is over, their identities are made final too
(`identity.final_labels`).
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from tracker_service.config import Config
from tracker_service.config_tracker import TrackerConfig
from tracker_service.tracking.association import buffered, iou_matrix
from tracker_service.types import Detections, FrameResult, TrackRecord, TrackSnapshot, TrackState

# A weak box overlapping a shown one this much is more likely that person's second box (what
# non-maximum suppression left) than someone else: it never starts another track.
SHOWN_OVERLAP_IOU = 0.5
# Track ids remembered as already shown (a bound: ids are not reused by a tracker).
SHOWN_IDS_KEPT = 4096
# The most frames held back, whatever the frame rate and lost buffer (a bound on memory).
MAX_WINDOW_FRAMES = 600


@dataclass(slots=True)
class _Held:
    result: FrameResult
    records: list[TrackRecord]
    weak: NDArray[np.float64]  # (n, 5) x1, y1, x2, y2, score: boxes no track showed
    used: NDArray[np.bool_]


def window_frames(seconds: float, fps: float) -> int:
    """Frames to hold back to fill gaps of up to `seconds`."""
    return min(MAX_WINDOW_FRAMES, max(2, round(seconds * fps) + 1))


def hindsight_for(config: Config, fps: float) -> Hindsight:
    """A hindsight of `output.hindsight_s` at `fps`, by `config`'s tracker rules."""
    return Hindsight(config.tracker, window_frames(config.output.hindsight_s, fps))


def file_hindsight(config: Config, fps: float) -> Hindsight | None:
    """The hindsight of a file run at `fps`, or None where `output.hindsight` is off."""
    return hindsight_for(config, fps) if config.output.hindsight else None


class Hindsight:
    """Holds results back `window` frames; `push` returns those that leave, completed."""

    def __init__(self, tracker: TrackerConfig, window: int) -> None:
        self.window = max(1, window)
        self._low_score = tracker.low_score
        self._min_iou = tracker.second_stage_min_iou
        self._iou_buffer = tracker.iou_buffer
        self._held: deque[_Held] = deque()
        self._last: dict[int, TrackRecord] = {}  # each held track's latest record
        self._shown: OrderedDict[int, None] = OrderedDict()

    def push(self, result: FrameResult) -> list[FrameResult]:
        weak = np.asarray(result.unshown, dtype=np.float64).reshape(-1, 5)
        weak = weak[weak[:, 4] >= self._low_score]
        self._held.append(_Held(result, list(result.tracks), weak, np.zeros(len(weak), bool)))
        for record in result.tracks:
            last = self._last.get(record.track_id)
            if last is not None and last.frame_index < record.frame_index - 1:
                self._fill_gap(last, record)
            elif last is None and record.track_id not in self._shown:
                self._extend_back(record)
            self._last[record.track_id] = record
            self._remember(record.track_id)
        released = []
        while len(self._held) > self.window:
            released.append(self._release())
        return released

    def flush(self) -> list[FrameResult]:
        """Every result still held, completed (the run is over)."""
        return [self._release() for _ in range(len(self._held))]

    def _release(self) -> FrameResult:
        held = self._held.popleft()
        oldest = self._held[0].result.frame_index if self._held else math.inf
        # A track last seen before the oldest held frame has no gap left to fill.
        for track_id in [t for t, r in self._last.items() if r.frame_index < oldest - 1]:
            del self._last[track_id]
        if len(held.records) == len(held.result.tracks):
            return held.result
        return replace(held.result, tracks=tuple(held.records))

    def _remember(self, track_id: int) -> None:
        self._shown[track_id] = None
        self._shown.move_to_end(track_id)
        while len(self._shown) > SHOWN_IDS_KEPT:
            self._shown.popitem(last=False)

    def _held_at(self, frame_index: int) -> _Held | None:
        if not self._held:
            return None
        offset = frame_index - self._held[0].result.frame_index
        return self._held[offset] if 0 <= offset < len(self._held) else None

    def _fill_gap(self, before: TrackRecord, after: TrackRecord) -> None:
        start, end = np.asarray(before.xyxy), np.asarray(after.xyxy)
        span = after.frame_index - before.frame_index
        for step in range(1, span):
            held = self._held_at(before.frame_index + step)
            if held is None:
                continue
            box = start + (end - start) * (step / span)
            held.records.append(
                _record(held.result, before, box, min(before.score, after.score), TrackState.LOST)
            )

    def _extend_back(self, first: TrackRecord) -> None:
        box = np.asarray(first.xyxy, dtype=np.float64)
        frame_index = first.frame_index - 1
        while (held := self._held_at(frame_index)) is not None:
            row = self._continuation(held, box)
            if row is None:
                return
            held.used[row] = True
            box = held.weak[row, :4]
            record = _record(
                held.result, first, box, float(held.weak[row, 4]), TrackState.TENTATIVE
            )
            held.records.append(record)
            frame_index -= 1

    def _continuation(self, held: _Held, box: NDArray[np.float64]) -> int | None:
        """The free weak box of `held` that continues `box`, by the tracker's weak-box rule."""
        free = np.flatnonzero(~held.used)
        if not len(free):
            return None
        candidates = held.weak[free, :4]
        overlap = iou_matrix(
            buffered(box, self._iou_buffer), buffered(candidates, self._iou_buffer)
        )[0]
        best = int(np.argmax(overlap))
        if overlap[best] < self._min_iou:
            return None
        shown = [r.xyxy for r in held.records]
        if shown and iou_matrix(candidates[best], np.asarray(shown)).max() >= SHOWN_OVERLAP_IOU:
            return None
        return int(free[best])


def _record(
    result: FrameResult,
    track: TrackRecord,
    box: NDArray[np.float64],
    score: float,
    state: TrackState,
) -> TrackRecord:
    x1, y1, x2, y2 = (float(v) for v in box)
    return replace(
        track,
        frame_index=result.frame_index,
        timestamp_s=result.timestamp_s,
        xyxy=(x1, y1, x2, y2),
        score=score,
        state=state,
    )


def with_hindsight(
    results: Iterable[FrameResult], hindsight: Hindsight | None
) -> Iterator[FrameResult]:
    """`results` completed by `hindsight` (as they are, without one)."""
    if hindsight is None:
        yield from results
        return
    for result in results:
        yield from hindsight.push(result)
    yield from hindsight.flush()


def unshown_boxes(
    detections: Detections, visible: tuple[TrackSnapshot, ...]
) -> tuple[tuple[float, float, float, float, float], ...]:
    """The detections no visible track took, as `FrameResult.unshown` keeps them."""
    shown = {track.detection_index for track in visible}
    rows = [row for row in range(len(detections)) if row not in shown]
    boxes = np.column_stack([detections.xyxy[rows], detections.confidence[rows]])
    return tuple((x1, y1, x2, y2, score) for x1, y1, x2, y2, score in boxes.tolist())
