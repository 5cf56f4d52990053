"""The tracker on synthetic frames: two-stage association, lifecycle, bounds, IDs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from tracker_service.config_tracker import TrackerConfig
from tracker_service.tracking import Tracker, TrackerOutput
from tracker_service.tracking.kalman import BoxKalmanFilter
from tracker_service.tracking.stages import ScoreBand, default_stages
from tracker_service.types import Detections, TrackSnapshot, TrackState

FPS = 10.0
BOX = (100.0, 100.0, 150.0, 250.0)
FAR = (500.0, 100.0, 550.0, 250.0)


def dets(*boxes: Sequence[float], scores: Sequence[float] | None = None) -> Detections:
    if not boxes:
        return Detections.empty()
    confidence = [0.9] * len(boxes) if scores is None else list(scores)
    return Detections(np.array(boxes, np.float32), np.array(confidence, np.float32))


def by_id(output: TrackerOutput) -> dict[int, TrackSnapshot]:
    return {t.track_id: t for t in output.tracks}


def shifted(box: Sequence[float], dx: float, dy: float = 0.0) -> tuple[float, ...]:
    x1, y1, x2, y2 = box
    return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)


@pytest.fixture
def tracker() -> Tracker:
    return Tracker(TrackerConfig(), FPS)


def test_defaults_assumed_below() -> None:
    cfg = TrackerConfig()
    assert (cfg.high_score, cfg.low_score, cfg.new_track_score) == (0.5, 0.1, 0.6)
    assert cfg.hits_to_confirm() == 3  # detections from a file
    assert cfg.for_own_detector().hits_to_confirm() == 2  # the service's detector
    assert Tracker(cfg, FPS).max_lost_frames == 20  # 2.0 s at 10 fps


def test_bad_fps_is_refused() -> None:
    with pytest.raises(ValueError, match="fps must be positive"):
        Tracker(TrackerConfig(), 0.0)


# --- two-stage association -------------------------------------------------------------------


def test_a_low_score_detection_keeps_a_confirmed_track_alive(tracker: Tracker) -> None:
    (track,) = tracker.update(dets(BOX)).tracks
    assert track.state is TrackState.CONFIRMED  # born confirmed on the first frame
    output = tracker.update(dets(shifted(BOX, 2), scores=[0.3]))
    (kept,) = output.tracks
    assert kept.track_id == track.track_id
    assert kept.state is TrackState.CONFIRMED
    assert kept.frames_since_update == 0 and kept.detection_index == 0
    assert kept.score == pytest.approx(0.3)
    assert output.confirmed_visible() == (kept,)


def test_without_the_low_score_detection_the_track_is_lost(tracker: Tracker) -> None:
    tracker.update(dets(BOX))
    (track,) = tracker.update(dets()).tracks
    assert track.state is TrackState.LOST
    assert track.frames_since_update == 1 and track.detection_index == -1


@pytest.mark.parametrize("score", [0.3, 0.55])
def test_a_low_score_detection_does_not_start_a_track(tracker: Tracker, score: float) -> None:
    # 0.3 is second-stage only; 0.55 is first-stage but below new_track_score (0.6).
    output = tracker.update(dets(BOX, scores=[score]))
    assert output.tracks == () and output.created == ()
    output = tracker.update(dets(BOX, scores=[score]))
    assert output.tracks == ()


def test_a_low_score_detection_is_not_matched_to_a_lost_track(tracker: Tracker) -> None:
    (first,) = tracker.update(dets(BOX)).tracks
    tracker.update(dets())  # missed: lost
    (track,) = tracker.update(dets(BOX, scores=[0.3])).tracks
    assert track.state is TrackState.LOST
    assert track.frames_since_update == 2 and track.detection_index == -1
    # A confident detection does re-find it.
    output = tracker.update(dets(BOX))
    (track,) = output.tracks
    assert track.track_id == first.track_id
    assert track.state is TrackState.CONFIRMED and track.refound
    assert output.created == ()


def test_low_score_detections_are_not_given_to_tentative_tracks(tracker: Tracker) -> None:
    tracker.update(dets())
    (tentative,) = tracker.update(dets(BOX)).tracks
    assert tentative.state is TrackState.TENTATIVE
    output = tracker.update(dets(BOX, scores=[0.3]))
    assert output.removed == (tentative.track_id,)
    assert output.tracks == ()


def test_a_tentative_track_is_removed_after_one_miss(tracker: Tracker) -> None:
    tracker.update(dets())  # from the second frame on, new tracks start tentative
    output = tracker.update(dets(BOX))
    (track,) = output.tracks
    assert output.created == (track.track_id,)
    assert track.state is TrackState.TENTATIVE
    assert output.confirmed_visible() == ()  # users do not see tentative tracks
    output = tracker.update(dets())
    assert output.tracks == ()
    assert output.removed == (track.track_id,)
    assert tracker.live_track_count == 0


def test_confirmation_after_confirm_hits(tracker: Tracker) -> None:
    tracker.update(dets())
    states = [tracker.update(dets(shifted(BOX, 2 * i))).tracks[0] for i in range(4)]
    assert [s.hits for s in states] == [1, 2, 3, 4]
    assert [s.state for s in states] == [
        TrackState.TENTATIVE,
        TrackState.TENTATIVE,
        TrackState.CONFIRMED,
        TrackState.CONFIRMED,
    ]
    assert len({s.track_id for s in states}) == 1


def test_confirm_hits_of_one_confirms_at_once() -> None:
    tracker = Tracker(TrackerConfig(confirm_hits=1), FPS)
    tracker.update(dets())
    (track,) = tracker.update(dets(BOX)).tracks
    assert track.state is TrackState.CONFIRMED


def test_ids_belong_to_the_tracker_instance() -> None:
    a, b = Tracker(TrackerConfig(), FPS), Tracker(TrackerConfig(), FPS)
    ids_a = [t.track_id for t in a.update(dets(BOX, FAR)).tracks]
    ids_b = [t.track_id for t in b.update(dets(FAR)).tracks]
    assert ids_a == [1, 2]
    assert ids_b == [1]
    # A third tracker, created after the others have counted on, starts at 1 as well.
    assert [t.track_id for t in Tracker(TrackerConfig(), FPS).update(dets(BOX)).tracks] == [1]


def test_ids_are_never_reused(tracker: Tracker) -> None:
    tracker.update(dets())
    seen: list[int] = []
    for _ in range(5):
        output = tracker.update(dets(BOX))  # a tentative track ...
        seen.extend(output.created)
        tracker.update(dets())  # ... removed at once
    assert seen == sorted(set(seen))
    assert len(seen) == 5


def test_predict_is_idempotent_within_a_frame(tracker: Tracker) -> None:
    tracker.update(dets(BOX))
    tracker.update(dets(shifted(BOX, 5)))
    first = tracker.predict()
    again = tracker.predict()
    assert first == again
    (output_track,) = tracker.update(dets()).tracks
    assert output_track.xyxy == first[0].xyxy  # the prediction was not applied twice


# --- lifecycle over synthetic frames ---------------------------------------------------------


def walk(
    tracker: Tracker, start: Sequence[float], frames: int, speed: float, first_step: int = 0
) -> list[TrackerOutput]:
    return [
        tracker.update(dets(shifted(start, speed * (first_step + i), speed / 2 * (first_step + i))))
        for i in range(frames)
    ]


def test_constant_speed_keeps_one_id(tracker: Tracker) -> None:
    outputs = walk(tracker, BOX, 100, speed=6.0)
    ids = {t.track_id for out in outputs for t in out.tracks}
    assert ids == {1}
    assert all(out.confirmed_visible() for out in outputs)
    # After a few frames the prediction is where the person really is.
    final = outputs[-1].tracks[0]
    np.testing.assert_allclose(final.xyxy, shifted(BOX, 6.0 * 99, 3.0 * 99), atol=0.5)


def test_two_people_walking_past_each_other_keep_their_ids(tracker: Tracker) -> None:
    # Different lanes (no overlap), opposite directions.
    left, right = (0.0, 0.0, 40.0, 100.0), (600.0, 200.0, 640.0, 300.0)
    ids: dict[str, set[int]] = {"left": set(), "right": set()}
    for i in range(60):
        output = tracker.update(dets(shifted(left, 10 * i), shifted(right, -10 * i)))
        for track in output.tracks:
            ids["left" if track.xyxy[1] < 150 else "right"].add(track.track_id)
    assert ids == {"left": {1}, "right": {2}}


def test_a_short_absence_keeps_the_id_and_flags_the_refind(tracker: Tracker) -> None:
    outputs = walk(tracker, BOX, 30, speed=4.0)
    (track_id,) = {t.track_id for t in outputs[-1].tracks}
    # Gone for 10 frames (1 s < lost_buffer_s = 2 s) while walking on.
    for _ in range(10):
        (lost,) = tracker.update(dets()).tracks
        assert lost.state is TrackState.LOST
    # Back where the motion model expects them.
    back = tracker.update(dets(shifted(BOX, 4.0 * 40, 2.0 * 40)))
    (track,) = back.tracks
    assert track.track_id == track_id
    assert track.refound and track.state is TrackState.CONFIRMED
    assert back.created == () and back.removed == ()
    # The flag marks the one frame of the re-find.
    (track,) = tracker.update(dets(shifted(BOX, 4.0 * 41, 2.0 * 41))).tracks
    assert not track.refound


def test_a_long_absence_removes_the_track_after_lost_buffer_s(tracker: Tracker) -> None:
    outputs = walk(tracker, BOX, 30, speed=4.0)
    (track_id,) = {t.track_id for t in outputs[-1].tracks}
    removed_at = []
    for frame in range(1, 26):
        output = tracker.update(dets())
        if output.removed:
            removed_at.append((frame, output.removed))
    # Kept for max_lost_frames = 20 unseen frames, removed on the 21st, and listed once.
    assert removed_at == [(21, (track_id,))]
    assert tracker.live_track_count == 0
    # Coming back now is a new track.
    output = tracker.update(dets(shifted(BOX, 4.0 * 55, 2.0 * 55)))
    assert output.created == (track_id + 1,)


def test_a_lost_track_is_not_refound_far_from_its_prediction(tracker: Tracker) -> None:
    walk(tracker, BOX, 10, speed=0.0)
    tracker.update(dets())
    output = tracker.update(dets(FAR))
    assert {t.track_id: t.state for t in output.tracks} == {
        1: TrackState.LOST,
        2: TrackState.TENTATIVE,
    }


def test_max_tracks_evicts_the_oldest_lost_track() -> None:
    tracker = Tracker(TrackerConfig(max_tracks=3), FPS)
    a, b, c = (0.0, 0, 40, 100), (100.0, 0, 140, 100), (200.0, 0, 240, 100)
    d = (400.0, 0, 440, 100)
    tracker.update(dets(a, b, c))  # 1, 2, 3 confirmed
    tracker.update(dets(b, c))  # 1 lost
    tracker.update(dets(c))  # 1 lost for 2 frames, 2 lost for 1
    output = tracker.update(dets(c, d))  # a fourth person: one must make room
    assert output.removed == (1,)
    assert output.created == (4,)
    assert set(by_id(output)) == {2, 3, 4}
    assert tracker.live_track_count == 3


def test_max_tracks_never_evicts_visible_tracks() -> None:
    tracker = Tracker(TrackerConfig(max_tracks=2), FPS)
    output = tracker.update(dets((0.0, 0, 40, 100), (100.0, 0, 140, 100), (200.0, 0, 240, 100)))
    assert output.created == (1, 2)
    assert output.removed == ()
    output = tracker.update(dets((0.0, 0, 40, 100), (100.0, 0, 140, 100), (200.0, 0, 240, 100)))
    assert set(by_id(output)) == {1, 2}
    assert output.created == () and output.removed == ()


def crossing_swaps(use_appearance: bool) -> int:
    """Two people stand almost on top of each other (A 4 px left of B), then walk off on
    the *other* side: A to the right, B to the left. Position alone says the left box is
    still the left track; their embeddings say they crossed. Returns the ID swaps."""
    tracker = Tracker(TrackerConfig(), FPS)
    looks = {"a": np.array([1.0, 0.0], np.float32), "b": np.array([0.0, 1.0], np.float32)}
    standing = {"a": (100.0, 0.0, 150.0, 150.0), "b": (104.0, 0.0, 154.0, 150.0)}
    speed = {"a": 12.0, "b": -12.0}
    features: dict[int, np.ndarray] = {}
    owner: dict[int, str] = {}
    swaps = 0
    for i in range(20):
        names = ["a", "b"]
        boxes = [shifted(standing[n], speed[n] * max(0, i - 9)) for n in names]
        detections = dets(*boxes).with_embeddings(
            np.array([0, 1]), np.stack([looks[n] for n in names])
        )
        output = tracker.update(detections, features if use_appearance else None)
        assert output.created == (() if i else (1, 2))
        for track in output.tracks:
            name = names[track.detection_index]
            if owner.setdefault(track.track_id, name) != name:
                swaps += 1
                owner[track.track_id] = name
            features[track.track_id] = looks[name]
    return swaps


def test_appearance_keeps_the_ids_of_two_people_crossing() -> None:
    assert crossing_swaps(use_appearance=False) == 2  # the scene really is ambiguous
    assert crossing_swaps(use_appearance=True) == 0


@pytest.mark.parametrize(
    ("dx", "same_look", "refound"),
    [
        (55.0, True, True),  # no overlap, but inside the motion gate and looking alike
        (55.0, False, False),  # same place, someone else
        (400.0, True, False),  # looks alike, but far outside the gate: no teleporting
    ],
)
def test_a_lost_track_is_refound_on_appearance_only_inside_the_motion_gate(
    dx: float, same_look: bool, refound: bool
) -> None:
    tracker = Tracker(TrackerConfig(), FPS)
    look, other = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    features = {1: look}
    for _ in range(10):
        tracker.update(dets(BOX).with_embeddings(np.array([0]), look[None]), features)
    for _ in range(15):  # lost for 1.5 s: the motion gate has widened
        tracker.update(dets(), features)
    back = dets(shifted(BOX, dx)).with_embeddings(
        np.array([0]), (look if same_look else other)[None]
    )
    assert BOX[2] - BOX[0] < 55.0  # the boxes do not overlap
    output = tracker.update(back, features)
    track = by_id(output)[1]
    assert (track.state is TrackState.CONFIRMED and track.refound) is refound
    assert output.created == (() if refound else (2,))


# --- stages, motion model and reset as parameters --------------------------------------------


def test_without_the_low_score_stage_a_weak_box_does_not_keep_the_track() -> None:
    config = TrackerConfig()
    stages = [s for s in default_stages(config) if s.detections is not ScoreBand.LOW]
    tracker = Tracker(config, FPS, stages=stages)
    tracker.update(dets(BOX))
    (track,) = tracker.update(dets(shifted(BOX, 2), scores=[0.3])).tracks
    assert track.state is TrackState.LOST


def test_the_motion_model_is_the_one_passed_in() -> None:
    built: list[BoxKalmanFilter] = []

    def motion_model(first_box: NDArray[np.floating]) -> BoxKalmanFilter:
        built.append(BoxKalmanFilter(first_box))
        return built[-1]

    tracker = Tracker(TrackerConfig(), FPS, motion_model=motion_model)
    tracker.update(dets(BOX, FAR))
    (predicted_first, _) = tracker.predict()
    assert len(built) == 2
    assert predicted_first.xyxy == tuple(built[0].box_xyxy().tolist())


def test_reset_starts_again_like_a_new_tracker(tracker: Tracker) -> None:
    frames = [dets(BOX, FAR), dets(shifted(BOX, 3)), dets(shifted(BOX, 6), FAR)]
    for frame in frames:
        tracker.update(frame)
    tracker.reset()
    assert tracker.live_track_count == 0 and tracker.frame_index == 0
    fresh = Tracker(TrackerConfig(), FPS)
    for frame in frames:
        assert tracker.update(frame) == fresh.update(frame)
