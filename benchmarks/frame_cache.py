"""Per-frame detections and embeddings of a video, cached on disk, and a replay of the
pipeline from them.

The detector and the embedder are most of a run's time (about a minute for PETS09 on two
cores) while the tracker and the identity layer are pure: caching every frame's detections
and an embedding for every detection lets the tracker/identity logic be iterated in seconds.
A replay is the real `StreamPipeline` (gate, cache, tracker, identities, gallery) with the
detector and the embedder answered from the cache: the gate still decides which detections
are "embedded" (only those reach the tracker and the identity layer), so a replay gives the
same results as a live run with the same models, up to the detector's run-to-run noise.

    uv run python benchmarks/frame_cache.py VIDEO CACHE.npz [--config configs/local-assets.yaml]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tracker_service.config import Config
    from tracker_service.types import FrameResult

REPO = Path(__file__).resolve().parents[1]


class FrameCache:
    """Detections (xyxy, score) and one embedding per detection, for every frame."""

    def __init__(
        self,
        counts: np.ndarray,
        boxes: np.ndarray,
        vectors: np.ndarray,
        size: tuple[int, int],
        fps: float,
    ) -> None:
        offsets = np.concatenate([[0], np.cumsum(counts)])
        self.frames = [(int(a), int(b)) for a, b in pairwise(offsets)]
        self.boxes = boxes.astype(np.float32)
        self.vectors = vectors.astype(np.float32)
        self.size = size
        self.fps = fps

    @classmethod
    def load(cls, path: Path) -> FrameCache:
        data = np.load(path)
        width, height = (int(v) for v in data["size"])
        return cls(
            data["counts"], data["boxes"], data["vectors"], (width, height), float(data["fps"])
        )

    def frame(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.frames[index]
        return self.boxes[start:end], self.vectors[start:end]


def build(video: Path, out: Path, config: Config) -> None:
    import cv2

    from tracker_service.crops import crop_boxes
    from tracker_service.runtime import load_models

    models = load_models(config)
    capture = cv2.VideoCapture(str(video))
    fps = float(capture.get(cv2.CAP_PROP_FPS)) or 25.0
    counts: list[int] = []
    boxes: list[np.ndarray] = []
    vectors: list[np.ndarray] = []
    size = (0, 0)
    while True:
        ok, frame = capture.read()
        if not ok or frame is None:
            break
        size = (frame.shape[1], frame.shape[0])
        detections = models.detector.detect(frame)
        counts.append(len(detections))
        boxes.append(np.column_stack([detections.xyxy, detections.confidence]))
        if len(detections):
            vectors.append(models.embedder.embed(crop_boxes(frame, detections.xyxy)))
    capture.release()
    dim = models.embedder.dim
    np.savez_compressed(
        out,
        counts=np.array(counts),
        boxes=np.concatenate(boxes) if boxes else np.zeros((0, 5), np.float32),
        vectors=np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32),
        size=np.array(size),
        fps=np.array(fps),
    )
    print(f"{video.name}: {len(counts)} frames, {sum(counts)} detections -> {out}")


def replay(
    cache: FrameCache,
    config: Config,
    *,
    gallery: Any = None,
    source: str = "replay",
    fps: float | None = None,
    pipelines: list[Any] | None = None,
    media_fps: float | None = None,
    hindsight: bool = False,
) -> Iterator[FrameResult]:
    """The pipeline's results frame by frame, detector and embedder answered by the cache.

    `fps` is the rate the pipeline is told (the camera's); `media_fps` the rate the cached
    frames were taken at, when only some of a camera's frames reach the pipeline. With
    `hindsight` the results are completed as a file run writes them (a camera's are not)."""
    from tracker_service.pipeline.hindsight import file_hindsight, with_hindsight
    from tracker_service.pipeline.stream import StreamPipeline
    from tracker_service.reid.gallery import Gallery
    from tracker_service.types import Detections

    current: dict[str, Any] = {}

    class CachedDetector:
        def detect(self, frame: Any) -> Detections:
            boxes, _ = cache.frame(current["index"])
            return Detections(boxes[:, :4].copy(), boxes[:, 4].copy())

    class CachedEmbedder:
        dim = cache.vectors.shape[1]

        def embed(self, crops: Sequence[Any]) -> np.ndarray:
            raise AssertionError("replay embeds through the cache")

    class ReplayPipeline(StreamPipeline):
        def _embed(self, frame: Any, detections: Detections, decision: Any) -> Detections:
            if not len(decision):
                return detections
            _, vectors = cache.frame(current["index"])
            self.stats.embedder_batches += 1
            return detections.with_embeddings(decision.indices, vectors[decision.indices])

    if gallery is None:  # not `or`: an empty gallery is falsy (len 0) and must be shared
        gallery = Gallery(config.gallery, CachedEmbedder.dim)
    rate = fps or cache.fps
    completion = file_hindsight(config, rate) if hindsight else None
    pipeline = ReplayPipeline(
        detector=CachedDetector(),
        embedder=CachedEmbedder(),
        gallery=gallery,  # type: ignore[arg-type]
        config=config,
        fps=rate,
        source=source,
        keep_unshown=completion is not None,
    )
    if pipelines is not None:
        pipelines.append(pipeline)
    blank = np.zeros((cache.size[1], cache.size[0], 3), np.uint8)

    def results() -> Iterator[FrameResult]:
        for index in range(len(cache.frames)):
            current["index"] = index
            yield pipeline.process(blank, index / (media_fps or rate))

    yield from with_hindsight(results(), completion)
    pipeline.close()


def main(argv: Sequence[str] | None = None) -> int:
    from tracker_service.config import load_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "local-assets.yaml")
    args = parser.parse_args(argv)
    build(args.video, args.out, load_config(args.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
