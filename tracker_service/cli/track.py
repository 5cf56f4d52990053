"""`tracker-service track VIDEO --out DIR` and `tracker-service track-mot SEQDIR`."""

from __future__ import annotations

import argparse
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker_service.types import Detections, FrameResult, TrackRecord

if TYPE_CHECKING:
    from tracker_service.config import Config
    from tracker_service.evaluation.video import GroundTruth
    from tracker_service.zones import ZoneSet

# The pipeline's modules (PyTorch, Ultralytics, OpenCV) are imported inside the commands:
# `tracker-service --help` and argument errors must not wait for them.

GALLERY_DIR = "gallery"


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML configuration file")
    parser.add_argument("--detector", help="detector: Ultralytics name, file or export folder")
    parser.add_argument("--embedder", help="re-ID model: manifest name or file")
    parser.add_argument("--models-dir", type=Path, help="where named models are looked up")


def cli_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Configuration keys set on the command line (highest precedence)."""
    overrides: dict[str, Any] = {}
    if getattr(args, "detector", None):
        overrides["detector"] = {"model": args.detector}
    if getattr(args, "embedder", None):
        overrides["embedder"] = {"model": args.embedder}
    if getattr(args, "models_dir", None):
        overrides["models_dir"] = str(args.models_dir)
    output: dict[str, Any] = {}
    if getattr(args, "no_video", False):
        output["video"] = False
    if getattr(args, "mot_ids", None):
        output["mot_ids"] = args.mot_ids
    if output:
        overrides["output"] = output
    return overrides


def config_from_args(args: argparse.Namespace) -> Config:
    from tracker_service.config import load_config

    return load_config(getattr(args, "config", None), cli_overrides(args))


def register(subparsers: Any) -> None:
    track = subparsers.add_parser(
        "track",
        help="track people in a video file",
        description="Run the full pipeline on VIDEO and write tracks.jsonl, mot.txt, "
        "annotated.mp4, summary.json, events.jsonl (with snapshots/) and counts.json into --out.",
    )
    track.add_argument(
        "video", type=Path, help="video file, or a camera device (/dev/video0, or its index 0)"
    )
    track.add_argument("--out", type=Path, required=True, help="output folder")
    track.add_argument(
        "--gallery",
        type=Path,
        help="identity gallery folder to use and update (default: a fresh one in --out)",
    )
    track.add_argument("--no-video", action="store_true", help="skip the annotated video")
    track.add_argument(
        "--gt",
        type=Path,
        metavar="GT_DIR",
        help="ground truth of VIDEO (a MOTChallenge folder with gt/gt.txt): the summary "
        "adds HOTA, IDF1, IDSW, transfers and splits",
    )
    track.add_argument(
        "--mot-ids",
        choices=["track", "identity"],
        help="ID column of mot.txt: track numbers (default, for MOT metrics) or identities",
    )
    track.add_argument(
        "--zones",
        type=Path,
        help="YAML file of zones and lines to count (normalised coordinates; see README)",
    )
    add_model_options(track)
    track.set_defaults(handler=run_track)

    mot = subparsers.add_parser(
        "track-mot",
        help="run the tracker alone on a MOTChallenge sequence's det/det.txt",
    )
    mot.add_argument("sequence", type=Path, help="sequence folder (seqinfo.ini, det/det.txt)")
    mot.add_argument("--out", type=Path, help="result file (default: <sequence name>.txt)")
    mot.add_argument("--config", type=Path, help="YAML configuration file")
    mot.add_argument(
        "--hindsight",
        action="store_true",
        help="write the tracks as a file run does: short gaps filled, tracks started at "
        "their first weak box (output.hindsight_s); default: as the tracker shows them live",
    )
    mot.set_defaults(handler=run_track_mot)


def _video_argument(video: Path) -> Path:
    """The file to track, or the camera device (`/dev/video0`, or its index `0`), checked
    before any model is loaded."""
    from tracker_service.camera_devices import device_path, diagnose_device
    from tracker_service.cli import UsageError
    from tracker_service.video_file import SourceError, probe_video

    if (device := device_path(str(video))) is not None:
        if not Path(device).exists():
            raise UsageError(diagnose_device(device))
        return Path(device)
    if not video.is_file():
        raise UsageError(f"video {video} does not exist or is not a file")
    try:
        probe_video(video)  # a file that is no video fails now, not after loading models
    except SourceError as exc:
        raise UsageError(str(exc)) from None
    return video


def _zones_argument(path: Path | None) -> ZoneSet | None:
    from tracker_service.cli import UsageError
    from tracker_service.zones import ZoneSpecError, load_zone_file

    if path is None:
        return None
    try:
        return load_zone_file(path)
    except ZoneSpecError as exc:
        raise UsageError(str(exc)) from None


def _stop_on_ctrl_c(stop: threading.Event) -> Any:
    """A camera never ends: Ctrl-C ends the run cleanly (outputs closed, summary written)."""
    return signal.signal(signal.SIGINT, lambda *_: stop.set())


def fetch_configured_weights(config: Config) -> None:
    """Download any configured model that is missing, before the pipeline's libraries are
    imported (seconds of start-up): a first run offline fails at once, with one line."""
    from tracker_service.model_store import fetch_weights

    fetch_weights(config.detector.model, "detector", config.models_dir, config.models_base_url)
    fetch_weights(config.embedder.model, "reid", config.models_dir, config.models_base_url)


def run_track(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    video = _video_argument(args.video)
    zones = _zones_argument(args.zones)  # a bad file fails now, before any download
    ground_truth = _ground_truth_argument(args.gt)
    fetch_configured_weights(config)

    from tracker_service.cli import UsageError
    from tracker_service.progress import ProgressReport
    from tracker_service.runner import RunCancelledError, run_video
    from tracker_service.runtime import load_models, open_gallery
    from tracker_service.video_file import SourceError, is_device

    out_dir: Path = args.out
    gallery_dir: Path = args.gallery or out_dir / GALLERY_DIR
    if args.gallery is None and gallery_dir.exists():
        shutil.rmtree(gallery_dir)  # a run's own gallery is part of its outputs: replaced
    models = load_models(config)
    gallery = open_gallery(config, models, gallery_dir)
    # A bar on a terminal; in a pipe or a log, a line per tenth (or minute, for a camera).
    progress = ProgressReport(video.name, unit="frame")
    stop = threading.Event()
    previous = _stop_on_ctrl_c(stop) if is_device(video) else None
    try:
        summary = run_video(
            video,
            out_dir,
            config,
            models,
            gallery,
            progress=progress,
            should_stop=stop.is_set,
            zones=zones,
            ground_truth=ground_truth,
        )
    except RunCancelledError as exc:  # Ctrl-C on a camera: what was tracked is kept
        print(f"{exc}; outputs in {out_dir}")
        return 0
    except SourceError as exc:
        raise UsageError(str(exc)) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        progress.close()
        gallery.close()
    print(
        f"{summary.frames} frames at {summary.fps:.1f} fps | {summary.detections} detections, "
        f"{summary.embedder_calls} embedded ({summary.embedder_share:.1%}) | "
        f"{summary.tracks} tracks, {summary.identities} identities | self-check: "
        f"{summary.doubtful_tracks} doubtful tracks, {summary.guard_splits} split by the guard\n"
        f"outputs in {out_dir}: " + ", ".join(sorted(summary.outputs.values()))
    )
    if summary.evaluation is not None:
        print(format_evaluation(summary.evaluation))
    return 0


def format_evaluation(evaluation: dict[str, Any]) -> str:
    """One line of a run summary's scores against ground truth."""
    track, identity = evaluation["by_track"], evaluation["by_identity"]
    line = (
        f"against the ground truth ({evaluation['people']} people): by identity HOTA "
        f"{identity['hota']:.2f}, IDF1 {identity['idf1']:.2f}, IDSW {identity['idsw']}; by track "
        f"HOTA {track['hota']:.2f}, IDF1 {track['idf1']:.2f}, IDSW {track['idsw']} | "
        f"{evaluation['transfers']} transfers, {evaluation['splits']} splits"
    )
    after = evaluation.get("after_merges")
    if after:
        line += (
            f" (after merges: {after['identities']} identities, {after['transfers']} transfers,"
            f" {after['splits']} splits)"
        )
    return line


def _ground_truth_argument(path: Path | None) -> GroundTruth | None:
    from tracker_service.cli import UsageError
    from tracker_service.evaluation.errors import MotFormatError
    from tracker_service.evaluation.video import GroundTruth

    if path is None:
        return None
    try:
        return GroundTruth.read(path)
    except (FileNotFoundError, MotFormatError) as exc:
        raise UsageError(f"--gt: {exc}") from None


def run_track_mot(args: argparse.Namespace) -> int:
    from tracker_service.motchallenge import iter_detections, read_seqinfo
    from tracker_service.pipeline.hindsight import hindsight_for, with_hindsight
    from tracker_service.sinks.mot import format_mot_row

    config = config_from_args(args)
    sequence: Path = args.sequence
    info = read_seqinfo(sequence)
    detections_file = sequence / "det" / "det.txt"
    if not detections_file.is_file():
        raise FileNotFoundError(f"{detections_file} not found")
    out: Path = args.out or Path(f"{info.name}.txt")
    hindsight = hindsight_for(config, info.frame_rate) if args.hindsight else None
    timer = _TrackerTimer(config, info.frame_rate, keep_unshown=hindsight is not None)
    results = (
        timer.update(frame - 1, detections)
        for frame, detections in iter_detections(detections_file, info.length)
    )
    lines = [
        format_mot_row(result.frame_index + 1, record.track_id, record.tlwh, record.score)
        for result in with_hindsight(results, hindsight)
        for record in result.tracks
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(lines), encoding="utf-8")
    rate = info.length / timer.elapsed_s if timer.elapsed_s > 0 else float("inf")
    print(f"{info.name}: {info.length} frames, {len(lines)} boxes -> {out} (update {rate:.0f} fps)")
    return 0


class _TrackerTimer:
    """The tracker alone, timed, its confirmed tracks as a frame's result."""

    def __init__(self, config: Config, fps: float, keep_unshown: bool) -> None:
        from tracker_service.tracking import Tracker

        self.tracker = Tracker(config.tracker, fps)
        self.keep_unshown = keep_unshown  # only hindsight reads the boxes no track took
        self.elapsed_s = 0.0

    def update(self, frame_index: int, detections: Detections) -> FrameResult:
        from tracker_service.pipeline.hindsight import unshown_boxes

        started = time.perf_counter()
        output = self.tracker.update(detections)
        self.elapsed_s += time.perf_counter() - started
        visible = output.confirmed_visible()
        records = tuple(
            TrackRecord(frame_index, 0.0, t.track_id, None, t.xyxy, t.score, t.state)
            for t in visible
        )
        unshown = unshown_boxes(detections, visible) if self.keep_unshown else ()
        return FrameResult(frame_index, 0.0, records, len(detections), 0, unshown=unshown)
