"""The re-ID gate's decisions on constructed scenes, and its cache hit/miss accounting."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from tracker_service.config import CacheConfig, GateConfig
from tracker_service.identity.evidence import ViewBook
from tracker_service.pipeline.cache import EmbeddingCache
from tracker_service.pipeline.gate import EmbedReason, GateDecision, ReidGate
from tracker_service.types import Detections, TrackSnapshot, TrackState

FPS = 20.0  # identify_interval_s 0.25 s -> 5 frames
FRAME_SIZE = (768, 432)
PERSON = (100.0, 100.0, 160.0, 260.0)
VECTOR = np.array([1.0, 0.0, 0.0], np.float32)


def track(
    track_id: int, xyxy: Sequence[float], state: TrackState = TrackState.CONFIRMED
) -> TrackSnapshot:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return TrackSnapshot(
        track_id=track_id,
        state=state,
        xyxy=(x1, y1, x2, y2),
        score=0.9,
        detection_index=-1,
        hits=10,
        age=10,
        frames_since_update=1,
    )


def dets(*boxes: Sequence[float], scores: Sequence[float] | None = None) -> Detections:
    confidence = [0.9] * len(boxes) if scores is None else list(scores)
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(confidence, np.float32))


VIEWS = ViewBook()


def settle(cache: EmbeddingCache, track_id: int, samples: int = 3, frame: int = 95) -> None:
    """`samples` good views of the track, the last at `frame` (before the decisions at 100)."""
    VIEWS.pop(track_id)
    for i in range(samples):
        cache.update(track_id, VECTOR, frame - (samples - 1 - i))
        VIEWS.add(track_id, frame - (samples - 1 - i), VECTOR, 0.9)


@pytest.fixture
def cache() -> EmbeddingCache:
    return EmbeddingCache(CacheConfig())


@pytest.fixture
def gate(cache: EmbeddingCache) -> ReidGate:
    for track_id in range(100):
        VIEWS.pop(track_id)
    return ReidGate(GateConfig(), cache, FPS, VIEWS)


def decide(
    gate: ReidGate,
    detections: Detections,
    tracks: Sequence[TrackSnapshot],
    frame: int = 100,
    frame_size: tuple[int, int] | None = FRAME_SIZE,
) -> dict[int, EmbedReason]:
    decision = gate.select(detections, tracks, frame, frame_size)
    assert isinstance(decision, GateDecision)
    assert len(decision.indices) == len(decision.reasons) == len(decision)
    return dict(zip(decision.indices.tolist(), decision.reasons, strict=True))


def test_defaults_assumed_below() -> None:
    cfg = GateConfig()
    assert (cfg.novelty_iou, cfg.margin_iou, cfg.overlap_iou) == (0.3, 0.2, 0.25)
    assert (cfg.min_score, cfg.min_height_px, cfg.identify_samples) == (0.5, 40, 3)
    assert (cfg.identify_interval_s, cfg.border_px, cfg.refresh_s) == (0.25, 4, 0.0)


def test_a_settled_isolated_track_needs_no_embedding(gate: ReidGate, cache: EmbeddingCache) -> None:
    settle(cache, 1)
    assert decide(gate, dets(PERSON), [track(1, PERSON)]) == {}
    stats = cache.stats()
    assert (stats.hits, stats.misses) == (1, 0)
    assert stats.hit_rate == 1.0
    # Frame after frame: still no embedding, every detection a hit.
    for frame in range(101, 111):
        assert decide(gate, dets(PERSON), [track(1, PERSON)], frame=frame) == {}
    assert cache.stats().hits == 11


def test_a_new_person_is_embedded(gate: ReidGate, cache: EmbeddingCache) -> None:
    settle(cache, 1)
    far = (500.0, 100.0, 560.0, 260.0)
    assert decide(gate, dets(PERSON, far), [track(1, PERSON)]) == {1: EmbedReason.NEW}
    assert (cache.stats().hits, cache.stats().misses) == (1, 1)
    # With no tracks at all everyone is new.
    assert decide(gate, dets(PERSON, far), []) == {0: EmbedReason.NEW, 1: EmbedReason.NEW}


def test_a_detection_over_a_lost_track_counts_as_new(gate: ReidGate, cache: EmbeddingCache) -> None:
    # Lost tracks are not "active": whoever stands there may be someone else.
    settle(cache, 1)
    assert decide(gate, dets(PERSON), [track(1, PERSON, TrackState.LOST)]) == {0: EmbedReason.NEW}


def test_a_detection_over_a_tentative_track_is_not_new(
    gate: ReidGate, cache: EmbeddingCache
) -> None:
    settle(cache, 1)
    assert decide(gate, dets(PERSON), [track(1, PERSON, TrackState.TENTATIVE)]) == {}


def test_two_tracks_explaining_one_detection_is_ambiguous(
    gate: ReidGate, cache: EmbeddingCache
) -> None:
    # Predicted boxes 20 px apart, the detection half-way: IoU 0.818 with both, margin 0.
    a, b = (0.0, 0.0, 100.0, 200.0), (20.0, 0.0, 120.0, 200.0)
    detection = (10.0, 0.0, 110.0, 200.0)
    settle(cache, 1)
    settle(cache, 2)
    assert decide(gate, dets(detection), [track(1, a), track(2, b)]) == {0: EmbedReason.AMBIGUOUS}


def test_a_clear_margin_is_not_ambiguous(gate: ReidGate, cache: EmbeddingCache) -> None:
    # IoU 1.0 with track 1 and 0.5 with track 2 (beside it): margin 0.5 >= 0.2.
    a, b = (0.0, 0.0, 90.0, 200.0), (30.0, 0.0, 120.0, 200.0)
    settle(cache, 1)
    settle(cache, 2)
    decision = decide(gate, dets(a), [track(1, a), track(2, b)])
    assert decision == {}


def test_a_second_track_below_novelty_iou_does_not_compete(
    gate: ReidGate, cache: EmbeddingCache
) -> None:
    # IoU 12000/28000 = 0.43 with track 1 and 9000/31000 = 0.29 with track 2: the margin
    # (0.14) is small, but track 2 does not explain the detection (0.29 < novelty_iou 0.3).
    a, b = (0.0, 0.0, 100.0, 200.0), (95.0, 0.0, 195.0, 200.0)
    detection = (40.0, 0.0, 140.0, 200.0)
    settle(cache, 1)
    settle(cache, 2)
    assert decide(gate, dets(detection), [track(1, a), track(2, b)]) == {}
    # Track 2 one step closer (IoU 0.33): now it competes.
    b = (90.0, 0.0, 190.0, 200.0)
    assert decide(gate, dets(detection), [track(1, a), track(2, b)]) == {0: EmbedReason.AMBIGUOUS}


def test_two_overlapping_detections_are_crowded(gate: ReidGate, cache: EmbeddingCache) -> None:
    # Each detection sits on its own track (margin 0.71), but they overlap each other:
    # IoU 45*200 / (2*20000 - 9000) = 0.29 > overlap_iou 0.25.
    a, b = (0.0, 0.0, 100.0, 200.0), (55.0, 0.0, 155.0, 200.0)
    settle(cache, 1)
    settle(cache, 2)
    assert decide(gate, dets(a, b), [track(1, a), track(2, b)]) == {
        0: EmbedReason.CROWDED,
        1: EmbedReason.CROWDED,
    }
    # Farther apart (IoU 0.25, not above it): each is a cache hit.
    b = (60.0, 0.0, 160.0, 200.0)
    assert decide(gate, dets(a, b), [track(1, a), track(2, b)]) == {}


def test_a_track_without_a_cache_entry_is_unembedded(gate: ReidGate, cache: EmbeddingCache) -> None:
    assert decide(gate, dets(PERSON), [track(7, PERSON)]) == {0: EmbedReason.UNEMBEDDED}
    settle(cache, 7)
    assert decide(gate, dets(PERSON), [track(7, PERSON)]) == {}
    cache.evict(7)
    assert decide(gate, dets(PERSON), [track(7, PERSON)]) == {0: EmbedReason.UNEMBEDDED}


def test_identify_samples_are_spaced_and_taken_fully_inside(
    gate: ReidGate, cache: EmbeddingCache
) -> None:
    cache.update(1, VECTOR, frame_index=100)  # one good view so far (3 wanted)
    VIEWS.add(1, 100, VECTOR, 0.9)
    # Not before the interval (5 frames at 20 fps).
    assert decide(gate, dets(PERSON), [track(1, PERSON)], frame=104) == {}
    assert decide(gate, dets(PERSON), [track(1, PERSON)], frame=105) == {0: EmbedReason.IDENTIFY}
    # A box within border_px (4) of an edge is a cut-off view: not taken for identifying.
    width, height = FRAME_SIZE
    edge_boxes = [
        (2.0, 100.0, 62.0, 260.0),
        (100.0, 3.0, 160.0, 163.0),
        (width - 62.0, 100.0, width - 2.0, 260.0),
        (100.0, height - 163.0, 160.0, height - 3.0),
    ]
    for box in edge_boxes:
        assert decide(gate, dets(box), [track(1, box)], frame=110) == {}, box
    # Exactly border_px away counts as inside.
    inside = (4.0, 100.0, 64.0, 260.0)
    assert decide(gate, dets(inside), [track(1, inside)], frame=110) == {0: EmbedReason.IDENTIFY}
    # Without a frame size no box counts as cut off.
    assert decide(gate, dets(edge_boxes[0]), [track(1, edge_boxes[0])], 110, None) == {
        0: EmbedReason.IDENTIFY
    }


def test_identify_stops_once_the_track_has_its_samples(
    gate: ReidGate, cache: EmbeddingCache
) -> None:
    for frame in (100, 105, 110):
        cache.update(1, VECTOR, frame)
        VIEWS.add(1, frame, VECTOR, 0.9)
    assert decide(gate, dets(PERSON), [track(1, PERSON)], frame=115) == {}


def test_a_settled_track_is_verified_about_once_a_second(
    gate: ReidGate, cache: EmbeddingCache
) -> None:
    settle(cache, 1, frame=95)
    assert decide(gate, dets(PERSON), [track(1, PERSON)], frame=114) == {}
    assert decide(gate, dets(PERSON), [track(1, PERSON)], frame=115) == {0: EmbedReason.VERIFY}
    # Only good views: not while another person overlaps the box.
    other = (130.0, 100.0, 190.0, 260.0)
    crowd = dets(PERSON, other)
    good = np.array([False, False])
    decision = gate.select(crowd, [track(1, PERSON)], 115, FRAME_SIZE, good)
    assert EmbedReason.VERIFY not in decision.reasons


def test_a_track_whose_last_view_looked_like_someone_else_is_sampled_every_frame(
    gate: ReidGate, cache: EmbeddingCache
) -> None:
    settle(cache, 1, samples=4, frame=95)
    stranger = np.array([0.0, 1.0, 0.0], np.float32)
    VIEWS.add(1, 99, stranger, 0.9)  # the box may have slid onto someone else
    for frame in (100, 101, 102):
        assert decide(gate, dets(PERSON), [track(1, PERSON)], frame=frame) == {0: EmbedReason.DOUBT}
    # Only good views: a crop with another person in it would not tell.
    other = (130.0, 100.0, 190.0, 260.0)
    decision = gate.select(
        dets(PERSON, other), [track(1, PERSON)], 103, FRAME_SIZE, np.zeros(2, bool)
    )
    assert EmbedReason.DOUBT not in decision.reasons
    # A view like the earlier ones again: the doubt is over, back to one view a second.
    VIEWS.add(1, 103, VECTOR, 0.9)
    assert decide(gate, dets(PERSON), [track(1, PERSON)], frame=104) == {}


def test_refresh_re_embeds_old_entries(cache: EmbeddingCache) -> None:
    gate = ReidGate(GateConfig(refresh_s=2.0), cache, FPS, VIEWS)  # 40 frames
    settle(cache, 1, frame=100)
    assert decide(gate, dets(PERSON), [track(1, PERSON)], frame=110) == {}
    assert decide(gate, dets(PERSON), [track(1, PERSON)], frame=140) == {0: EmbedReason.REFRESH}


@pytest.mark.parametrize(
    ("box", "score"),
    [
        (PERSON, 0.49),  # below min_score
        ((100.0, 100.0, 160.0, 139.0), 0.9),  # 39 px high, below min_height_px
    ],
)
def test_weak_or_small_boxes_are_never_embedded(
    gate: ReidGate, cache: EmbeddingCache, box: tuple[float, ...], score: float
) -> None:
    # Whatever the reason would be: new (no track), unembedded, crowded.
    assert decide(gate, dets(box, scores=[score]), []) == {}
    assert decide(gate, dets(box, scores=[score]), [track(1, box)]) == {}
    assert decide(gate, dets(box, box, scores=[score, score]), []) == {}
    assert cache.stats().misses == 0


def test_misses_count_the_embedded_detections(gate: ReidGate, cache: EmbeddingCache) -> None:
    settle(cache, 1)
    far = (500.0, 100.0, 560.0, 260.0)
    decision = gate.select(dets(PERSON, far, far), [track(1, PERSON)], 100, FRAME_SIZE)
    assert decision.indices.tolist() == [1, 2]
    assert decision.indices.dtype == np.int64
    stats = cache.stats()
    assert (stats.hits, stats.misses) == (1, 2)
    assert stats.hit_rate == pytest.approx(1 / 3)


def test_an_empty_frame_decides_nothing(gate: ReidGate) -> None:
    decision = gate.select(Detections.empty(), [track(1, PERSON)], 100, FRAME_SIZE)
    assert len(decision) == 0 and decision.reasons == ()
