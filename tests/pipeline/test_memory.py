"""A long synthetic run through `StreamPipeline`: what ends is released, memory stays flat.

A camera runs for weeks; anything kept per track, per detection or per frame that is not
released when the track ends grows without bound (ByteTrack's `removed_stracks` does).
People walk through three lanes of a synthetic scene for 10,000 frames (about 7 minutes of
video at 24 fps, some 450 visits by 12 recurring people, with occlusions), with a scripted
detector and embedder: this is a memory test of our own structures, not a quality test.
Removed tracks must become garbage (checked with weak references, as boxmot's
`test_bytetrack_memory.py` does), per-track state must follow the live tracks, and traced
Python memory must not grow over the last part of the run (some sixty visits: keeping each
removed track alive, as a leak would, shows as about 470 kB there; a clean run grows by
a few tens of kB).
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray

from tracker_service.config import Config, GalleryConfig
from tracker_service.pipeline.stream import StageTimes, StreamPipeline
from tracker_service.reid.gallery import Gallery
from tracker_service.tracking.track import MotionModel, Track
from tracker_service.types import Detections

FRAMES = 10_000
FPS = 24.0
WIDTH, HEIGHT = 768, 432
LANES = (10, 150, 290)  # top of each lane; boxes are 120 px high
BOX_HEIGHT = 120
PEOPLE = 12  # person p's box is 40 + 4p px wide: the embedder tells people apart by it
DIM = 16
SPEED = 16  # px per frame: about 2 s per crossing
# Tracing triples the cost of a frame: only the last 1,500 frames are traced.
TRACE_FROM, MEASURE_FROM = 8_500, 8_750
MAX_GROWTH_BYTES = 256 * 1024


@dataclass
class Walker:
    person: int
    x: int
    occluded_until: int  # frame before which the person is hidden (0: not occluded)


class ScriptedScene:
    """People walking left to right in three lanes, then pausing off-screen; deterministic."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        self.walkers: list[Walker | None] = [None] * len(LANES)
        self.wait = [int(self.rng.integers(0, 30)) for _ in LANES]
        self.frame = -1
        self.visits = 0

    def step(self) -> list[tuple[int, tuple[int, int, int, int], float]]:
        """Advance one frame; (person, box, score) of everyone visible."""
        self.frame += 1
        visible = []
        for lane, top in enumerate(LANES):
            walker = self.walkers[lane]
            if walker is None:
                self.wait[lane] -= 1
                if self.wait[lane] <= 0:
                    busy = {w.person for w in self.walkers if w is not None}
                    free = [p for p in range(PEOPLE) if p not in busy]
                    person = int(self.rng.choice(free))
                    occlusion = self.frame + int(self.rng.integers(5, 25))
                    walker = Walker(person, 20, occlusion if self.rng.random() < 0.3 else 0)
                    self.walkers[lane] = walker
                    self.visits += 1
                else:
                    continue
            width = 40 + 4 * walker.person
            if walker.x + width > WIDTH - 20:
                self.walkers[lane] = None
                # The next person may come in while this one's track is still lost.
                self.wait[lane] = int(self.rng.integers(5, 40))
                continue
            hidden = walker.occluded_until <= self.frame < walker.occluded_until + 6
            if not hidden:
                score = 0.3 if self.frame % 17 == 0 else 0.9  # now and then a weak box
                visible.append(
                    (walker.person, (walker.x, top, walker.x + width, top + BOX_HEIGHT), score)
                )
            walker.x += SPEED
        return visible


class ScriptedDetector:
    def __init__(self, scene: ScriptedScene) -> None:
        self.scene = scene

    def detect(self, frame: NDArray[np.uint8]) -> Detections:
        visible = self.scene.step()
        if not visible:
            return Detections.empty()
        boxes = np.array([box for _, box, _ in visible], np.float32)
        scores = np.array([score for _, _, score in visible], np.float32)
        return Detections(boxes, scores)


class WidthEmbedder:
    """Each person's look is one axis, recognised by the crop width (boxes are whole pixels)."""

    dim = DIM

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, crops: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
        self.calls += 1
        vectors = np.zeros((len(crops), DIM), np.float32)
        for row, crop in enumerate(crops):
            person = (crop.shape[1] - 40) // 4
            vectors[row, person] = 1.0
            vectors[row, PEOPLE + person % (DIM - PEOPLE)] = 0.1  # not quite a basis vector
        return np.asarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), np.float32)


def live_track_objects() -> int:
    # `type(...) is`: isinstance would also ask every foreign object for its __class__ (and
    # some, in torch, warn when asked).
    return sum(1 for obj in gc.get_objects() if type(obj) is Track)


@dataclass
class LongRun:
    scene: ScriptedScene
    pipeline: StreamPipeline
    gallery: Gallery
    filters_seen: int
    filters_alive: set[int]
    track_objects: int
    live_ids: set[int]
    peaks: dict[str, int]
    violations: list[str]
    identities_in_output: set[int]
    growth: int


def check_per_track_state(pipeline: StreamPipeline, gallery: Gallery, index: int) -> list[str]:
    """What is kept per track but belongs to no live track (empty when all is well)."""
    live_ids = set(pipeline.tracker._tracks)
    kept = {
        "cache": set(pipeline.cache),
        "identity book": set(pipeline.identities._held),
        "good views": set(pipeline.views._tracks),
        "confirmed set": set(pipeline._confirmed_live),
        "open sightings": {key[2] for key in gallery._open_sightings},
    }
    return [
        f"frame {index}: {name} keeps {ids - live_ids}"
        for name, ids in kept.items()
        if ids - live_ids
    ]


@pytest.fixture(scope="module")
def long_run() -> LongRun:
    scene = ScriptedScene()
    gallery = Gallery(GalleryConfig(), DIM, None, "width-embedder")
    pipeline = StreamPipeline(
        detector=ScriptedDetector(scene),
        embedder=WidthEmbedder(),
        gallery=gallery,
        config=Config(),
        fps=FPS,
        source="synthetic",
    )
    # A small timing window, full long before the traced part of the run.
    pipeline.stats.times = StageTimes(capacity=500)
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    filters: dict[int, weakref.ReferenceType[MotionModel]] = {}
    peaks = dict.fromkeys(("tracks", "cache", "identity book", "sightings", "timings"), 0)
    violations: list[str] = []
    identities_in_output: set[int] = set()
    traced_at_measure = 0
    gc.collect()
    try:
        for index in range(FRAMES):
            if index == TRACE_FROM:
                tracemalloc.start()
            if index == MEASURE_FROM:
                gc.collect()
                traced_at_measure = tracemalloc.get_traced_memory()[0]
            result = pipeline.process(frame, index / FPS)
            identities_in_output.update(
                r.identity_id for r in result.tracks if r.identity_id is not None
            )
            live = pipeline.tracker._tracks
            for track_id, track in live.items():
                if track_id not in filters:
                    filters[track_id] = weakref.ref(track.kalman)
            if len(violations) < 10:
                violations += check_per_track_state(pipeline, gallery, index)
            for name, size in (
                ("tracks", len(live)),
                ("cache", len(pipeline.cache)),
                ("identity book", len(pipeline.identities._held)),
                ("sightings", len(gallery._open_sightings)),
                ("timings", len(pipeline.stats.times.total)),
            ):
                peaks[name] = max(peaks[name], size)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - traced_at_measure
    finally:
        tracemalloc.stop()
    run = LongRun(
        scene=scene,
        pipeline=pipeline,
        gallery=gallery,
        filters_seen=len(filters),
        filters_alive={track_id for track_id, ref in filters.items() if ref() is not None},
        track_objects=live_track_objects(),
        live_ids=set(pipeline.tracker._tracks),
        peaks=peaks,
        violations=violations,
        identities_in_output=identities_in_output,
        growth=growth,
    )
    stats = pipeline.stats
    print(
        f"\n{FRAMES} frames, {scene.visits} visits, {stats.tracks_started} tracks started, "
        f"{stats.tracks_confirmed} confirmed, {len(gallery)} identities, embedded "
        f"{stats.embedded_share:.1%} of {stats.detections} detections, peaks {peaks}, traced "
        f"growth over the last {FRAMES - MEASURE_FROM} frames: {growth} bytes"
    )
    return run


def test_the_scene_churns(long_run: LongRun) -> None:
    stats = long_run.pipeline.stats
    assert stats.frames == FRAMES
    # Hundreds of people came and went, each through a track of their own.
    assert long_run.scene.visits > 400
    assert stats.tracks_confirmed >= long_run.scene.visits
    assert long_run.filters_seen == stats.tracks_started
    assert stats.embedded_share < 0.25


def test_per_track_state_follows_the_live_tracks(long_run: LongRun) -> None:
    assert long_run.violations == []
    # Per lane one person in view and the lost track of the one before: a small, fixed bound.
    bound = 3 * len(LANES)
    peaks = long_run.peaks
    assert max(peaks["tracks"], peaks["cache"], peaks["identity book"], peaks["sightings"]) <= (
        bound
    ), peaks
    assert peaks["timings"] <= 500


def test_removed_tracks_become_garbage(long_run: LongRun) -> None:
    # Only the motion models of tracks still live can be reached; the other hundreds are gone.
    assert long_run.filters_alive <= long_run.live_ids
    assert long_run.track_objects <= len(long_run.live_ids)


def test_traced_memory_stays_flat(long_run: LongRun) -> None:
    assert long_run.growth < MAX_GROWTH_BYTES, f"traced memory grew by {long_run.growth} bytes"


def test_the_gallery_holds_the_recurring_people(long_run: LongRun) -> None:
    # Not one identity per visit: people coming back are recognised.
    assert long_run.identities_in_output
    assert len(long_run.gallery) < long_run.scene.visits // 10


def test_closing_the_stream_ends_every_sighting(long_run: LongRun) -> None:
    left = long_run.pipeline.close()
    assert len(left) == len(set(left))
    assert not long_run.pipeline.identities._held
    assert not long_run.gallery._open_sightings
