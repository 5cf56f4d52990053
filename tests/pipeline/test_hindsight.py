"""Hindsight of file runs: gaps of re-found tracks filled, new tracks started where the detector
first saw them; through the real `StreamPipeline` (tracker included) on a scripted scene, and
on hand-made results for the bounds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.pipeline.test_stream_identities import Scored, ScriptedDetector
from tracker_service.config import Config, GalleryConfig
from tracker_service.config_tracker import TrackerConfig
from tracker_service.pipeline.hindsight import Hindsight, file_hindsight, with_hindsight
from tracker_service.pipeline.stream import StreamPipeline
from tracker_service.reid.gallery import Gallery
from tracker_service.types import FrameResult, TrackRecord, TrackState

FPS = 10.0
WIDTH, HEIGHT = 640, 360
DIM = 8


class SameLooks:
    dim = DIM

    def embed(self, crops: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
        vectors = np.ones((len(crops), DIM), np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _walker(frame: int, score: float, x0: float = 100.0, step: float = 6.0) -> Scored:
    x = x0 + step * frame
    return (x, 100.0, x + 40.0, 220.0, score)


def _run(frames: list[list[Scored]], hindsight: bool) -> list[FrameResult]:
    config = Config()
    pipeline = StreamPipeline(
        detector=ScriptedDetector(frames),
        embedder=SameLooks(),
        gallery=Gallery(GalleryConfig(), DIM, None, "scripted"),
        config=config,
        fps=FPS,
        source="scripted",
        keep_unshown=hindsight,
    )
    blank = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    results = (pipeline.process(blank, index / FPS) for index in range(len(frames)))
    completion = file_hindsight(config, FPS) if hindsight else None
    done = list(with_hindsight(results, completion))
    pipeline.close()
    return done


def _frames_of(results: list[FrameResult]) -> dict[int, TrackRecord]:
    return {r.frame_index: record for r in results for record in r.tracks}


def test_a_person_walking_in_is_written_from_their_first_weak_box() -> None:
    # Half in view at first: the detector is unsure (0.2, 0.35, 0.45), then sure (0.9).
    scores = [0.05, 0.2, 0.35, 0.45] + [0.9] * 8
    frames = [[_walker(i, s)] for i, s in enumerate(scores)]
    live_results = _run(frames, hindsight=False)
    assert all(result.unshown == () for result in live_results)  # nobody reads them live
    live = _frames_of(live_results)
    completed = _frames_of(_run(frames, hindsight=True))
    assert min(live) == 5  # confident at 4, confirmed at 5: what a camera shows
    # In hindsight the track starts at the first box the tracker would have kept (score
    # >= low_score 0.1), not at the noise before it.
    assert sorted(completed) == list(range(1, 12))
    assert {completed[i].state for i in (1, 2, 3, 4)} == {TrackState.TENTATIVE}
    assert [round(completed[i].score, 2) for i in (1, 2, 3, 4)] == [0.2, 0.35, 0.45, 0.9]
    assert completed[1].xyxy == pytest.approx(_walker(1, 0.2)[:4])
    assert len({record.track_id for record in completed.values()}) == 1
    assert completed[1].identity_id == completed[11].identity_id


def test_a_person_hidden_for_a_few_frames_has_the_gap_filled() -> None:
    frames = [[_walker(i, 0.9)] if not 6 <= i <= 8 else [] for i in range(14)]
    live = _frames_of(_run(frames, hindsight=False))
    completed = _frames_of(_run(frames, hindsight=True))
    assert not {6, 7, 8} & set(live)
    for i in (6, 7, 8):
        assert completed[i].state is TrackState.LOST
        assert completed[i].xyxy == pytest.approx(
            _walker(i, 0.9)[:4], abs=1.0
        )  # Kalman-smoothed ends
        assert completed[i].track_id == completed[5].track_id


def test_a_long_gap_stays_a_gap() -> None:
    # Hidden for 1 s: the tracker finds the person again (lost_buffer_s 2 s), but a straight
    # line over that long is a guess; only gaps up to output.hindsight_s are filled.
    frames = [[_walker(i, 0.9)] if not 5 <= i <= 14 else [] for i in range(20)]
    completed = _frames_of(_run(frames, hindsight=True))
    assert not set(range(5, 15)) & set(completed)
    assert completed[4].track_id == completed[15].track_id


def test_a_weak_box_elsewhere_is_nobody_s_start() -> None:
    # Someone far off scores 0.3 once: no track, nothing written for it.
    frames = [[_walker(i, 0.9)] for i in range(10)]
    frames[3].append((500.0, 40.0, 540.0, 160.0, 0.3))
    completed = _run(frames, hindsight=True)
    assert all(len(result.tracks) <= 1 for result in completed)


def _result(index: int, records: list[TrackRecord], unshown: list[Scored]) -> FrameResult:
    return FrameResult(index, index / FPS, tuple(records), len(records), 0, unshown=tuple(unshown))


def _record(index: int, track_id: int, box: tuple[float, float, float, float]) -> TrackRecord:
    return TrackRecord(index, index / FPS, track_id, 7, box, 0.9, TrackState.CONFIRMED)


def test_results_leave_in_order_once_the_window_is_past() -> None:
    hindsight = Hindsight(TrackerConfig(), window=3)
    released = []
    for index in range(10):
        out = hindsight.push(_result(index, [_record(index, 1, (0, 0, 10, 20))], []))
        assert len(out) == (1 if index >= 3 else 0)  # never more than the window held
        released += out
    released += hindsight.flush()
    assert [r.frame_index for r in released] == list(range(10))
    assert hindsight.flush() == []


def test_a_weak_box_on_someone_shown_does_not_start_another_track() -> None:
    hindsight = Hindsight(TrackerConfig(), window=5)
    shown = (100.0, 100.0, 140.0, 220.0)
    # Frame 0: person 1 shown, and a second weak box on them (what suppression left).
    hindsight.push(_result(0, [_record(0, 1, shown)], [(102.0, 100.0, 142.0, 220.0, 0.3)]))
    # Frame 1: track 2 appears next to person 1; the weak box could "continue" it backwards.
    hindsight.push(_result(1, [_record(1, 1, shown), _record(1, 2, (104, 100, 144, 220))], []))
    first, second = hindsight.flush()
    assert [r.track_id for r in first.tracks] == [1]
    assert len(second.tracks) == 2


def test_a_hindsight_is_bounded_and_can_be_switched_off() -> None:
    config = Config()
    hindsight = file_hindsight(config, FPS)
    assert hindsight is not None and hindsight.window == 8  # 0.67 s at 10 fps, and one
    huge = file_hindsight(config, 240.0 * 100)
    assert huge is not None and huge.window == 600
    off = config.model_copy(
        update={"output": config.output.model_copy(update={"hindsight": False})}
    )
    assert file_hindsight(off, FPS) is None
