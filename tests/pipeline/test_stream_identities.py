"""The identity layer inside `StreamPipeline`, on a scripted scene: the pipeline's own order of
work (tracks end, their good views go, identities are decided) is what is tested here."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from tracker_service.config import Config, GalleryConfig
from tracker_service.pipeline.stream import StreamPipeline
from tracker_service.reid.gallery import Gallery
from tracker_service.types import Detections

FPS = 4.0  # a busy machine: a few frames a second of a camera reach the pipeline
WIDTH, HEIGHT = 640, 360
DIM = 8
Box = tuple[float, float, float, float]
Scored = tuple[float, float, float, float, float]  # a box and the detector's score


class ScriptedDetector:
    """The boxes of each frame, in order (scored 0.9 unless given); none once it is over."""

    def __init__(self, frames: Sequence[Sequence[Box | Scored]]) -> None:
        self.frames = list(frames)
        self.index = -1

    def detect(self, frame: NDArray[np.uint8]) -> Detections:
        self.index += 1
        boxes = self.frames[self.index] if self.index < len(self.frames) else ()
        if not boxes:
            return Detections.empty()
        rows = np.array([(*box, 0.9) if len(box) == 4 else box for box in boxes], np.float32)
        return Detections(rows[:, :4], rows[:, 4])


class OnePersonEmbedder:
    """Everyone is the same person, looking slightly different in every crop."""

    dim = DIM

    def __init__(self) -> None:
        self.rng = np.random.default_rng(3)

    def embed(self, crops: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
        vectors = np.zeros((len(crops), DIM), np.float32)
        vectors[:, 0] = 1.0
        vectors[:, 1:] = self.rng.normal(0.0, 0.08, (len(crops), DIM - 1))
        return np.asarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), np.float32)


def walk(x0: float, step: float, frames: int, y: float = 100.0) -> list[list[Box]]:
    return [[(x0 + step * i, y, x0 + step * i + 50.0, y + 150.0)] for i in range(frames)]


def test_a_track_seen_briefly_on_a_busy_machine_is_found_to_be_someone_known() -> None:
    # The person walks through (identified and confirmed), is gone for a minute, then comes
    # back: a frame at the frame's edge (no good view), two inside, gone again. The short
    # track's identity, made for it at once, is decided from its two good views as it ends.
    script = (
        walk(60.0, 20.0, 20)
        + [[]] * 240
        + walk(0.0, 20.0, 3)  # the first box touches the frame's edge
        + [[]] * 40
    )
    gallery = Gallery(GalleryConfig(), DIM, None, "scripted")
    pipeline = StreamPipeline(
        detector=ScriptedDetector(script),
        embedder=OnePersonEmbedder(),
        gallery=gallery,
        config=Config(),
        fps=FPS,
        source="door",
    )
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    shown: list[set[int]] = []
    provisional: list[bool] = []
    for index in range(len(script)):
        result = pipeline.process(frame, index / FPS)
        shown.append({r.identity_id for r in result.tracks if r.identity_id is not None})
        provisional += [r.identity_provisional for r in result.tracks if r.identity_id]
    first, second = set().union(*shown[:20]), set().union(*shown[260:263])
    assert len(first) == 1 and len(second) == 1 and first != second  # provisional: its own
    assert not pipeline.identities._held  # the second track has ended...
    assert {gallery.canonical(i) for i in first | second} == first  # ...and was found
    # The output said so: the first walk's identity was confirmed, the short track's not.
    assert provisional[-1] and not all(provisional)
    pipeline.close()


def test_on_a_busy_machine_views_are_spaced_in_the_camera_s_time() -> None:
    # A 15 fps camera of which a busy machine processes every fifth frame (3 a second): a
    # walk of two seconds is six processed frames. A view a quarter second apart (the gate's
    # interval) is a view on every one of them (counted in processed frames it was one every
    # four: two views, too few for the person to be recognised).
    camera_fps, every, frames = 15.0, 5, 6
    pipeline = StreamPipeline(
        detector=ScriptedDetector(walk(20.0, 25.0, frames)),
        embedder=OnePersonEmbedder(),
        gallery=Gallery(GalleryConfig(), DIM, None, "scripted"),
        config=Config(),
        fps=camera_fps,
        source="door",
    )
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for index in range(frames):
        pipeline.process(frame, index * every / camera_fps)
    (track_id,) = pipeline.tracker._tracks
    assert pipeline.views.count(track_id) == frames
    pipeline.close()
