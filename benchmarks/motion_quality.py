"""Motion-aware detection: what it costs in tracking quality, on ground truth.

Our whole pipeline (detector, tracker, re-ID gate, embedder, gallery) runs twice on each
sequence, with the same models and settings: once with the detector on every frame, once
with motion-aware detection (`tracker_service.detection.motion`, the `motion` settings).
Scored with TrackEval (HOTA, DetA, AssA, MOTA, IDF1, IDSW) on:

- `videos/pets09-s2l1.mp4` against `mot/PETS09-S2L1-video/gt` (795 frames, 3-8 people
  walking, leaving and coming back; MOT15 rules);
- `mot/MOT17-mini/*/img1` against their ground truth (4-8 frames a sequence, crowded, some
  moving cameras; MOT17 rules: detection-level figures, too short for association).

    uv run python benchmarks/motion_quality.py             # rewrites its RESULTS.md section
    uv run python benchmarks/motion_quality.py --quick     # 60 PETS09 frames, no file
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from common import (
    RESULTS_FILE,
    assets_root,
    command_line,
    iter_frames,
    machine_lines,
    markdown_table,
    pin_threads,
    require,
    usable_cpus,
    write_section,
)
from numpy.typing import NDArray

SECTION = "motion_quality"
PETS = "PETS09-S2L1-video"
QUICK_FRAMES = 60
MODES = ("every frame", "motion-gated")

Frames = Iterable[NDArray[np.uint8]]


def _image_frames(folder: Path, limit: int | None) -> Iterator[NDArray[np.uint8]]:
    for path in sorted(folder.glob("*.jpg"))[:limit]:
        yield np.asarray(cv2.imread(str(path)), dtype=np.uint8)


def _seqinfo_rate(sequence: Path) -> float:
    from tracker_service.evaluation import read_seqinfo

    return float(read_seqinfo(sequence / "seqinfo.ini").frame_rate or 30.0)


def _track(
    models: Any, config: Any, frames: Frames, fps: float, *, gated: bool, out: Path
) -> float:
    """Our pipeline over `frames` into the MOT file `out`; the share of frames not detected."""
    from tracker_service.pipeline import StreamPipeline
    from tracker_service.runtime import open_gallery
    from tracker_service.sinks.mot import MotWriter

    gallery = open_gallery(config, models, None)
    pipeline = StreamPipeline(
        detector=models.detector,
        embedder=models.embedder,
        gallery=gallery,
        config=config,
        fps=fps,
        source="benchmark",
        motion_gated=gated,
    )
    with MotWriter(out) as writer:
        for index, frame in enumerate(frames):
            writer.write(pipeline.process(frame, index / fps).tracks)
    pipeline.close()
    gallery.close()
    return pipeline.motion.skipped_share if pipeline.motion else 0.0


@dataclasses.dataclass
class Outcome:
    data: str
    mode: str
    skipped: float
    metrics: Any


def measure(args: argparse.Namespace) -> list[Outcome]:
    from tracker_service.config import load_config
    from tracker_service.evaluation import Benchmark, evaluate_folders
    from tracker_service.runtime import load_models

    assets = assets_root()
    models_dir = assets / "models"
    config = load_config(
        None,
        {
            "detector": {"model": str(require(args.detector, "detector")), "device": "cpu"},
            "embedder": {"model": str(require(args.reid_onnx, "re-ID")), "backend": "onnx"},
            "models_dir": str(models_dir),
        },
        environ={},
    )
    models = load_models(config)
    pets_gt = require(assets / "mot" / PETS, "PETS09 ground truth")
    pets_video = require(assets / "videos" / "pets09-s2l1.mp4", "PETS09 video")
    mini = require(assets / "mot" / "MOT17-mini", "MOT17-mini")
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        for gated, mode in zip((False, True), MODES, strict=True):
            started = time.perf_counter()
            pets_dir = Path(tmp) / f"pets-{gated}"
            pets_dir.mkdir()
            frames = (frame for _, frame in iter_frames(pets_video, args.frames))
            # The video is stamped 10 fps; durations (lost buffer, refresh) follow its clock.
            skipped = _track(
                models, config, frames, 10.0, gated=gated, out=pets_dir / f"{PETS}.txt"
            )
            gt_root = Path(tmp) / "gt-pets"
            gt_root.mkdir(exist_ok=True)
            if not (gt_root / PETS).exists():
                (gt_root / PETS).symlink_to(pets_gt.resolve())
            report = evaluate_folders(gt_root, pets_dir, benchmark=Benchmark.MOT15)
            outcomes.append(Outcome("PETS09-S2L1 (795 frames)", mode, skipped, report.combined))
            mini_dir = Path(tmp) / f"mini-{gated}"
            mini_dir.mkdir()
            skipped_mini = []
            for sequence in sorted(p for p in mini.iterdir() if (p / "img1").is_dir()):
                frames = _image_frames(sequence / "img1", args.frames)
                rate = _seqinfo_rate(sequence)
                out = mini_dir / f"{sequence.name}.txt"
                skipped_mini.append(_track(models, config, frames, rate, gated=gated, out=out))
            report = evaluate_folders(mini, mini_dir, benchmark=Benchmark.MOT17)
            outcomes.append(
                Outcome(
                    "MOT17-mini (7 sequences)", mode, float(np.mean(skipped_mini)), report.combined
                )
            )
            print(f"[{time.perf_counter() - started:6.1f}s] {mode} done", file=sys.stderr)
    return outcomes


def render(outcomes: Sequence[Outcome], argv: Sequence[str], config_line: str) -> str:
    rows = [
        [
            o.data,
            o.mode,
            f"{1 - o.skipped:.0%}",
            f"{100 * o.metrics.hota:.2f}",
            f"{100 * o.metrics.deta:.2f}",
            f"{100 * o.metrics.assa:.2f}",
            f"{100 * o.metrics.mota:.2f}",
            f"{100 * o.metrics.idf1:.2f}",
            str(o.metrics.id_switches),
        ]
        for o in outcomes
    ]
    headers = ["data", "detector", "frames detected", "HOTA", "DetA", "AssA", "MOTA", "IDF1"]
    return "\n".join(
        [
            "## Motion-aware detection: quality on ground truth",
            "",
            f"Command: `{command_line('motion_quality.py', argv)}`",
            "",
            *machine_lines(),
            "",
            "Our whole pipeline (YOLOv8n INT8 OpenVINO, OSNet x0.25 ONNX re-ID, fresh gallery) "
            "with the detector on every frame and with motion-aware detection; TrackEval, "
            "track IDs as the ID column. PETS09-S2L1 runs on the video's 10 fps clock. "
            f"Motion settings: {config_line}.",
            "",
            markdown_table([*headers, "IDSW"], rows, text_columns=2),
        ]
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    assets = assets_root()
    parser = argparse.ArgumentParser(description="Quality cost of motion-aware detection.")
    parser.add_argument(
        "--detector", type=Path, default=assets / "models" / "yolov8n_int8_openvino_model"
    )
    parser.add_argument(
        "--reid-onnx", type=Path, default=assets / "models" / "osnet_x0_25_msmt17.onnx"
    )
    parser.add_argument("--frames", type=int, default=None, help="first N frames of each")
    parser.add_argument("--threads", type=int, default=usable_cpus())
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_FRAMES} frames, no file")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames = args.frames or QUICK_FRAMES
    elif args.results is None:
        args.results = RESULTS_FILE
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    pin_threads(args.threads)
    from tracker_service.config import MotionConfig

    outcomes = measure(args)
    settings = ", ".join(
        f"{key}={value}"
        for key, value in MotionConfig().model_dump().items()
        if key not in ("cameras", "files")  # where it is on, not how it decides
    )
    text = render(outcomes, argv, settings)
    print(text)
    if args.results is not None:
        write_section(args.results, SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
