"""Running the pipeline over a whole video file (the CLI's `track` and the service's jobs).

Writes into one output folder: `tracks.jsonl` (a JSON object per frame), `mot.txt`
(MOTChallenge), `annotated.mp4` (boxes labelled by identity, H.264) and `summary.json`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tracker_service.annotate import draw_tracks
from tracker_service.config import Config
from tracker_service.decode_ahead import decode_ahead
from tracker_service.events.files import COUNTS_FILE, EVENTS_FILE, EventFileWriter, write_counts
from tracker_service.events.model import EventSink
from tracker_service.events.monitor import EventMonitor
from tracker_service.identity.final_labels import Canonical, TrackIdentities
from tracker_service.pipeline import PipelineStats, StreamPipeline
from tracker_service.pipeline.hindsight import Hindsight, file_hindsight
from tracker_service.reid.identity_gallery import IdentityGallery
from tracker_service.runtime import Models
from tracker_service.sinks import MOT_FILE, SUMMARY_FILE, TRACKS_FILE, VIDEO_FILE
from tracker_service.sinks.jsonl import JsonLinesWriter
from tracker_service.sinks.mot import MotWriter
from tracker_service.sinks.relabel import rewrite_files
from tracker_service.sinks.video import AnnotatedVideoWriter
from tracker_service.types import Frame, FrameResult
from tracker_service.video_file import VideoFileSource
from tracker_service.zones import ZoneSet

if TYPE_CHECKING:  # scoring imports TrackEval: only runs given ground truth load it
    from tracker_service.evaluation.video import GroundTruth, RunScorer

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (frames done, frames expected; 0 when unknown)
ShouldStop = Callable[[], bool]


class RunCancelledError(Exception):
    """The run was stopped on request; what was written so far is kept."""


def _percentile_ms(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)) * 1000, 2) if values else 0.0


@dataclass
class RunSummary:
    video: str
    frames: int
    video_fps: float
    fps: float
    wall_s: float
    detections: int
    embedder_calls: int
    embedder_share: float
    embedder_batches: int
    cache_hits: int
    cache_misses: int
    gate_reasons: dict[str, int]
    tracks: int
    identities: int
    identities_created: int
    # The self-check: tracks whose own looks split into two people (no ground truth needed),
    # and tracks the identity guard split when their looks changed person.
    doubtful_tracks: int
    guard_splits: int
    latency_ms: dict[str, float]
    detector_ms: dict[str, float]
    embedder_ms: dict[str, float]
    outputs: dict[str, str] = field(default_factory=dict)
    complete: bool = True
    # Scores against ground truth, when the run was given one (`evaluation.video`).
    evaluation: dict[str, object] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _summarise(
    video: Path,
    pipeline: StreamPipeline,
    video_fps: float,
    wall_s: float,
    identities_before: int,
) -> RunSummary:
    stats: PipelineStats = pipeline.stats
    cache = pipeline.cache.stats()
    times = stats.times
    return RunSummary(
        video=video.name,  # not the path: summaries are served to API clients
        frames=stats.frames,
        video_fps=round(video_fps, 3),
        fps=round(stats.frames / wall_s, 2) if wall_s > 0 else 0.0,
        wall_s=round(wall_s, 2),
        detections=stats.detections,
        embedder_calls=stats.embedded,
        embedder_share=round(stats.embedded_share, 4),
        embedder_batches=stats.embedder_batches,
        cache_hits=cache.hits,
        cache_misses=cache.misses,
        gate_reasons=dict(stats.reasons),
        tracks=stats.tracks_confirmed,
        identities=len(pipeline.identities.distinct_identities()),
        identities_created=len(pipeline.gallery) - identities_before,
        doubtful_tracks=pipeline.self_check.doubtful_count(),
        guard_splits=pipeline.guard_splits,
        latency_ms={
            "median": _percentile_ms(times.total, 50),
            "p95": _percentile_ms(times.total, 95),
        },
        detector_ms={
            "median": _percentile_ms(times.detector, 50),
            "p95": _percentile_ms(times.detector, 95),
        },
        embedder_ms={
            "median": _percentile_ms(times.embedder, 50),
            "p95": _percentile_ms(times.embedder, 95),
        },
    )


def _scorer(ground_truth: GroundTruth | None, hindsight: bool) -> RunScorer | None:
    if ground_truth is None:
        return None
    from tracker_service.evaluation.video import RunScorer

    return RunScorer(ground_truth, hindsight)


class _TrackFiles:
    """`tracks.jsonl`, `mot.txt` and the scores: each track as the whole run saw it."""

    def __init__(
        self,
        tracks: JsonLinesWriter,
        mot: MotWriter,
        scorer: RunScorer | None,
        hindsight: Hindsight | None,
    ) -> None:
        self._tracks, self._mot, self._scorer, self._hindsight = tracks, mot, scorer, hindsight
        self.identities = TrackIdentities()

    def add(self, result: FrameResult) -> None:
        self._write(self._hindsight.push(result) if self._hindsight is not None else [result])

    def finish(self) -> None:
        if self._hindsight is not None:
            self._write(self._hindsight.flush())

    def relabel(self, canonical: Canonical, tracks: Path, mot: Path | None) -> None:
        """Once the writers are closed, in hindsight: each track under its final identity
        (`mot` too when it is written by identity)."""
        if self._hindsight is not None:
            final = self.identities.final(canonical)
            rewrite_files(tracks, mot, final)

    def _write(self, results: Sequence[FrameResult]) -> None:
        for result in results:
            self._tracks.write(result)
            self.identities.observe(result.tracks)
            if self._scorer is not None:
                self._scorer.add(result)
            self._mot.write(result.tracks)


def run_video(
    video: Path,
    out_dir: Path,
    config: Config,
    models: Models,
    gallery: IdentityGallery,
    *,
    source_name: str | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    zones: ZoneSet | None = None,
    event_sinks: Sequence[EventSink] = (),
    ground_truth: GroundTruth | None = None,
) -> RunSummary:
    """Track every frame of `video` into `out_dir`; raises `SourceError` for a bad video.

    Besides the tracks, `events.jsonl` (with `snapshots/`) and `counts.json` are written:
    identities appearing and leaving, and the visits and crossings of `zones`' zones and
    lines; the events also go to `event_sinks` (the history, the rules). With
    `ground_truth`, the summary also scores the run against it (`evaluation`).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    identities_before = len(gallery)
    scorer = _scorer(ground_truth, config.output.hindsight)
    with VideoFileSource(video) as source:
        info = source.info
        pipeline = StreamPipeline(
            detector=models.detector,
            embedder=models.embedder,
            gallery=gallery,
            config=config,
            fps=info.fps,
            source=source_name or video.name,
            motion_gated=config.motion.files,
            keep_unshown=config.output.hindsight,
        )
        outputs = {
            "tracks": out_dir / TRACKS_FILE,
            "mot": out_dir / MOT_FILE,
            "video": out_dir / VIDEO_FILE,
            "events": out_dir / EVENTS_FILE,
            "counts": out_dir / COUNTS_FILE,
        }
        cancelled = False
        mot_by_identity = config.output.mot_ids == "identity"
        with (
            JsonLinesWriter(outputs["tracks"]) as json_sink,
            MotWriter(outputs["mot"], use_identity=mot_by_identity) as mot_sink,
            EventFileWriter(out_dir) as event_file,
        ):
            monitor = EventMonitor(
                source_name or video.name,
                zones or ZoneSet(),
                (info.width, info.height),
                settings=config.zones.counter_settings(info.fps),
                sinks=[event_file, *event_sinks],
                label=gallery.label,
            )
            last: tuple[float, Frame | None] = (0.0, None)
            video_sink = (
                AnnotatedVideoWriter(outputs["video"], info.width, info.height, info.fps)
                if config.output.video
                else None
            )
            track_files = _TrackFiles(json_sink, mot_sink, scorer, file_hindsight(config, info.fps))
            frames = decode_ahead(source)
            try:
                # The next frames decode in their own thread while this one is processed.
                for index, timestamp, frame in frames:
                    if should_stop is not None and should_stop():
                        cancelled = True
                        break
                    result = pipeline.process(frame, timestamp)
                    monitor.observe(frame, result)
                    last = (timestamp, frame)
                    track_files.add(result)
                    if video_sink is not None:
                        video_sink.write(draw_tracks(frame, result.tracks, gallery.label))
                    if progress is not None:
                        progress(index + 1, info.frame_count)
            finally:
                frames.close()  # stops the reader before the source closes
                monitor.close(last[0], last[1])
                monitor.left(pipeline.close(), last[0], last[1])
                track_files.finish()
                write_counts(out_dir, monitor.counts())
                if video_sink is not None:
                    video_sink.close()
    track_files.relabel(
        gallery.canonical, outputs["tracks"], outputs["mot"] if mot_by_identity else None
    )
    summary = _summarise(
        video, pipeline, info.fps, time.perf_counter() - started, identities_before
    )
    summary.outputs = {name: path.name for name, path in outputs.items() if path.exists()}
    summary.outputs["summary"] = SUMMARY_FILE  # written just below
    summary.complete = not cancelled
    if scorer is not None:
        summary.evaluation = scorer.summary(info.fps, gallery.canonical)
    if info.frame_count and summary.frames < info.frame_count - 2:
        logger.warning(
            "%s: decoded %d of the %d frames its container announces (truncated?)",
            video,
            summary.frames,
            info.frame_count,
        )
    (out_dir / SUMMARY_FILE).write_text(summary.to_json() + "\n", encoding="utf-8")
    if cancelled:
        raise RunCancelledError(f"stopped after {summary.frames} frames")
    return summary
