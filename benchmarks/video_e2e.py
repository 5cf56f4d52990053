"""End to end on video: our pipeline beside Ultralytics' and BoxMOT's trackers.

On `$TRACKER_ASSETS/videos/people-detection.mp4`, with the shared detector
(`models/yolov8n_int8_openvino_model`, OpenVINO INT8) and OSNet x0.25 (MSMT17) re-ID:

- `detector`: the detector alone (our `UltralyticsDetector`), which bounds every pipeline;
  its detections of the first run are saved for BoxMOT;
- `ours`: `StreamPipeline` (detector, tracker, re-ID gate, cached ONNX embedder, gallery);
- `ultralytics-botsort`, `ultralytics-bytetrack`: `model.track(frame, persist=True,
  tracker="botsort.yaml" / "bytetrack.yaml")` on the same weights, motion only (their
  BoT-SORT re-ID cannot run here: with an exported detector it loads a classifier,
  `yolo26n-cls.pt`, that it would have to download);
- `boxmot-botsort`, `boxmot-deepocsort`, `boxmot-strongsort`: BoxMOT 25.0.0's appearance
  trackers in their own environment (`benchmarks/.venv-boxmot`, made by `setup_boxmot.sh`,
  which this script runs when it is missing), fed the detector's saved detections and the
  frames, embedding with the same OSNet x0.25 MSMT17 weights (`.pth`, by local path).

Every pipeline runs in its own subprocess (so peak RSS is per pipeline), with the same thread
count (`--threads`: OpenMP/MKL variables, PyTorch's pool, onnxruntime's intra-op pool and the
CPU affinity, which bounds OpenVINO), over the same frames; runs are interleaved round robin
(`--runs`, one subprocess per pipeline and run) so that a change of machine load hits all of
them. Decoding is not timed; each frame's latency is the call that processes a decoded frame.
BoxMOT is timed without the detector (it is fed detections); its end-to-end figures add the
detector-only time of the same frame, and are marked as such.

    uv run python benchmarks/video_e2e.py            # full run, rewrites RESULTS.md
    uv run python benchmarks/video_e2e.py --quick    # smoke run: 20 frames, no file
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from common import (
    BENCHMARKS_DIR,
    PEER_DETECTOR_CONF,
    PEER_IMGSZ,
    PEER_NMS_IOU,
    RESULTS_FILE,
    PeakMemory,
    assets_root,
    command_line,
    iter_frames,
    machine_lines,
    markdown_table,
    pin_threads,
    require,
    side_by_side_overrides,
    usable_cpus,
    video_rate,
    write_json,
    write_section,
)

if TYPE_CHECKING:
    from tracker_service.detection import Detector

SECTION = "video_e2e"
DETECTOR = "detector"
OURS = "ours"
OURS_MOTION = "ours-motion"  # ours with motion-aware detection (`detection/motion.py`)
ULTRALYTICS = ("ultralytics-botsort", "ultralytics-bytetrack")
BOXMOT = ("boxmot-botsort", "boxmot-deepocsort", "boxmot-strongsort")
PIPELINES = (OURS, OURS_MOTION, *ULTRALYTICS, *BOXMOT)
QUICK_PIPELINES = (OURS, "ultralytics-botsort", "boxmot-deepocsort")
QUICK_FRAMES = 20
BOXMOT_VENV = BENCHMARKS_DIR / ".venv-boxmot"
BOXMOT_SETUP = BENCHMARKS_DIR / "setup_boxmot.sh"
WORKER_TIMEOUT_S = 1800


# --- workers (each runs in its own process) -------------------------------------------------


def _first_frame(video: Path) -> np.ndarray:
    return next(iter_frames(video, 1))[1]


def _set_torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _detector_pass(
    detector: Detector, spec: Mapping[str, Any], memory: PeakMemory
) -> dict[str, Any]:
    """The detector alone on every frame; saves the detections when the spec asks."""
    video = Path(spec["video"])
    detector.detect(_first_frame(video))  # warm-up: the first inference allocates
    latency: list[float] = []
    counts: list[int] = []
    boxes: list[np.ndarray] = []
    for _, frame in iter_frames(video, spec["frames"]):
        started = time.perf_counter()
        detections = detector.detect(frame)
        latency.append(time.perf_counter() - started)
        counts.append(len(detections))
        boxes.append(np.column_stack([detections.xyxy, detections.confidence]))
        memory.sample()
    if spec.get("save_detections"):
        stacked = np.concatenate(boxes) if boxes else np.zeros((0, 5), np.float32)
        np.savez(spec["save_detections"], counts=np.array(counts), boxes=stacked.astype(np.float32))
    return {
        "pipeline": DETECTOR,
        "frames": len(latency),
        "runs": [{"latency_s": latency, "detector_s": latency}],
        "detections": int(sum(counts)),
        "embedded": 0,
        **memory.report(),
    }


def worker_detector(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The detector alone (our `UltralyticsDetector`, the settings every pipeline uses)."""
    memory = PeakMemory()
    from tracker_service.config import DetectorConfig
    from tracker_service.detection.ultralytics_yolo import UltralyticsDetector

    _set_torch_threads(spec["threads"])
    model = Path(spec["detector"])
    detector = UltralyticsDetector(
        DetectorConfig(
            model=str(model),
            device="cpu",
            imgsz=PEER_IMGSZ,
            confidence=PEER_DETECTOR_CONF,
            nms_iou=PEER_NMS_IOU,
        ),
        model.parent,
    )
    return _detector_pass(detector, spec, memory)


def worker_ours(spec: Mapping[str, Any]) -> dict[str, Any]:
    """`StreamPipeline.process` on every frame, a fresh (in-memory) gallery per run."""
    memory = PeakMemory()
    from tracker_service.config import load_config
    from tracker_service.pipeline import StreamPipeline
    from tracker_service.runtime import load_models, open_gallery

    detector = Path(spec["detector"])
    embedder = {
        "model": spec["reid_onnx"],
        "backend": "onnx",
        "device": "cpu",
        "threads": spec["threads"],
    }
    overrides = side_by_side_overrides(detector, embedder, detector.parent)
    config = load_config(None, overrides, environ={})
    models = load_models(config)
    _set_torch_threads(spec["threads"])
    # --quick: the detector-only pass runs here too, saving a process start.
    detector_result = (
        _detector_pass(models.detector, spec, memory) if spec.get("with_detector") else None
    )
    video = Path(spec["video"])
    rate = video_rate(video)
    first = _first_frame(video)
    models.detector.detect(first)  # warm-up, outside the timings
    models.embedder.embed([first[:256, :128]])
    gallery = open_gallery(config, models, None)  # in memory: every run starts empty
    pipeline = StreamPipeline(
        detector=models.detector,
        embedder=models.embedder,
        gallery=gallery,
        config=config,
        fps=rate,
        source="benchmark",
        motion_gated=bool(spec.get("motion")),
    )
    gate = pipeline.motion
    latency: list[float] = []
    track_ids: set[int] = set()
    for index, frame in iter_frames(video, spec["frames"]):
        started = time.perf_counter()
        result = pipeline.process(frame, index / rate)
        latency.append(time.perf_counter() - started)
        track_ids.update(record.track_id for record in result.tracks)
        memory.sample()
    pipeline.close()
    stats = pipeline.stats
    identities = len(pipeline.identities.distinct_identities())
    gallery.close()
    return {
        "pipeline": OURS_MOTION if gate else OURS,
        "frames": len(latency),
        "detector_skipped": gate.skipped_share if gate else 0.0,
        "runs": [
            {
                "latency_s": latency,
                "detector_s": list(stats.times.detector),
                "embedder_s": list(stats.times.embedder),
            }
        ],
        "detections": stats.detections,
        "embedded": stats.embedded,
        "embedder_batches": stats.embedder_batches,
        "ids": len(track_ids),
        "identities": identities,
        "gate_reasons": dict(stats.reasons),
        **memory.report(),
        "settings": {
            "tracker": config.tracker.model_dump(),
            "gate": config.gate.model_dump(),
            **({"motion": config.motion.model_dump()} if gate else {}),
            "embedder_threads": spec["threads"],
        },
        "detector_result": detector_result,
    }


def worker_ultralytics(spec: Mapping[str, Any]) -> dict[str, Any]:
    """`model.track(frame, persist=True, tracker=...)`; detector time from Ultralytics' own
    per-stage timings (pre-process + inference + post-process; the tracker runs after them)."""
    memory = PeakMemory()
    from ultralytics.models.yolo import YOLO

    _set_torch_threads(spec["threads"])
    # Any: Ultralytics' return types are unions over streaming modes not used here.
    model: Any = YOLO(spec["detector"], task="detect")
    arguments: dict[str, Any] = {
        "tracker": f"{spec['tracker']}.yaml",
        "classes": [0],
        "imgsz": PEER_IMGSZ,
        "iou": PEER_NMS_IOU,
        "device": "cpu",
        "verbose": False,
    }  # conf left unset: model.track() makes it 0.1
    video = Path(spec["video"])
    model.track(_first_frame(video), persist=False, **arguments)  # warm-up
    latency: list[float] = []
    detector: list[float] = []
    track_ids: set[int] = set()
    for index, frame in iter_frames(video, spec["frames"]):
        started = time.perf_counter()
        # persist=False on the first frame starts a new tracker, then it is kept.
        results = model.track(frame, persist=index > 0, **arguments)
        latency.append(time.perf_counter() - started)
        speed = results[0].speed
        detector.append(
            sum(speed.get(key) or 0.0 for key in ("preprocess", "inference", "postprocess")) / 1000
        )
        ids = results[0].boxes.id if results[0].boxes is not None else None
        if ids is not None:
            track_ids.update(int(i) for i in ids.tolist())
        memory.sample()
    predictor = model.predictor
    tracker_args: dict[str, Any] = (
        dict(vars(predictor.trackers[0].args)) if predictor is not None else {}
    )
    return {
        "pipeline": f"ultralytics-{spec['tracker']}",
        "frames": len(latency),
        "runs": [{"latency_s": latency, "detector_s": detector}],
        "embedded": 0,
        "ids": len(track_ids),
        **memory.report(),
        "settings": {key: str(value) for key, value in tracker_args.items()},
    }


WORKERS = {
    DETECTOR: worker_detector,
    OURS: worker_ours,
    "ultralytics": worker_ultralytics,
}


def run_worker(spec_path: Path) -> int:
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    pin_threads(spec["threads"])  # before torch, OpenVINO or onnxruntime load
    result = WORKERS[spec["kind"]](spec)
    result["threads"] = spec["threads"]
    write_json(Path(spec["out"]), result)
    return 0


# --- BoxMOT's environment -------------------------------------------------------------------


def boxmot_python(venv: Path, allow_setup: bool) -> tuple[Path | None, str]:
    """The BoxMOT venv's interpreter, creating the venv first if allowed; or why not."""
    python = venv / "bin" / "python"
    if python.exists() and boxmot_version(python):
        return python, ""
    if not allow_setup:
        return None, f"BoxMOT skipped: no working venv at {venv} (run `bash {BOXMOT_SETUP}`)"
    print(f"BoxMOT venv missing or broken: running {BOXMOT_SETUP} ...", file=sys.stderr)
    done = subprocess.run(
        ["bash", str(BOXMOT_SETUP)],
        env={**os.environ, "BOXMOT_VENV": str(venv)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not python.exists() or not boxmot_version(python):
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return None, "BoxMOT skipped: its venv could not be installed: " + " | ".join(tail)
    return python, ""


def boxmot_version(python: Path) -> str | None:
    try:
        done = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('boxmot'))"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


# --- orchestration --------------------------------------------------------------------------


@dataclass
class Measured:
    """What the runs of one pipeline produced."""

    name: str
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.results)

    @property
    def first(self) -> dict[str, Any]:
        return self.results[0]

    def series(self, key: str) -> list[list[float]]:
        return [run[key] for result in self.results for run in result["runs"] if run.get(key)]

    def run_fps(self) -> list[float]:
        return [len(s) / sum(s) for s in self.series("latency_s") if sum(s) > 0]

    def peak_rss_mib(self) -> float:
        return max(float(result["peak_rss_mib"]) for result in self.results)


def _spawn(
    name: str, command: list[str], spec: dict[str, Any], folder: Path, run_index: int
) -> dict[str, Any]:
    spec_path = folder / f"{name}-{run_index}.spec.json"
    out = folder / f"{name}-{run_index}.json"
    write_json(spec_path, {**spec, "out": str(out)})
    done = subprocess.run(
        [*command, str(spec_path)],
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT_S,
        check=False,
        cwd=BENCHMARKS_DIR.parent,
    )
    if done.returncode != 0 or not out.exists():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"{name} failed (exit {done.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


Commands = dict[str, tuple[list[str], dict[str, Any]]]  # name -> (command, spec additions)


def _base_spec(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    assets = assets_root()
    models = assets / "models"
    video = require(args.video or assets / "videos" / "people-detection.mp4", "video")
    detector = require(args.detector or models / "yolov8n_int8_openvino_model", "detector")
    reid_onnx = require(args.reid_onnx or models / "osnet_x0_25_msmt17.onnx", "ONNX re-ID")
    reid_pth = require(args.reid_weights or models / "osnet_x0_25_msmt17.pth", "re-ID .pth")
    return {
        "video": str(video),
        "frames": args.frames,
        "runs": 1,  # one timed run per subprocess; the runs are interleaved here
        "threads": args.threads,
        "detector": str(detector),
        "reid_onnx": str(reid_onnx),
        "reid_weights": str(reid_pth),
        "detections": str(folder / "detections.npz"),
    }


def _commands(args: argparse.Namespace, notes: list[str]) -> Commands:
    """What runs, in order: the detector first (its detections feed BoxMOT)."""
    main_env = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    commands: Commands = {}
    if args.quick and OURS in args.pipelines:
        # One process start fewer: the detector-only pass runs in our pipeline's process.
        notes.append("--quick: the detector-only pass ran in our pipeline's process.")
        commands[OURS] = (main_env, {"kind": OURS, "with_detector": True})
    else:
        commands[DETECTOR] = (main_env, {"kind": DETECTOR})
    for name in args.pipelines:
        if name == OURS and name not in commands:
            commands[name] = (main_env, {"kind": OURS})
        elif name == OURS_MOTION:
            commands[name] = (main_env, {"kind": OURS, "motion": True})
        elif name in ULTRALYTICS:
            commands[name] = (main_env, {"kind": "ultralytics", "tracker": name.split("-")[1]})
    wanted_boxmot = [name for name in args.pipelines if name in BOXMOT]
    if wanted_boxmot:
        python, why = boxmot_python(args.boxmot_venv, not args.no_boxmot_setup)
        if python is None:
            notes.append(why)
            print(why, file=sys.stderr)
        else:
            runner = [str(python), str(BENCHMARKS_DIR / "boxmot_runner.py")]
            for name in wanted_boxmot:
                commands[name] = (runner, {"tracker": name.split("-")[1]})
    return commands


def measure(args: argparse.Namespace, folder: Path) -> tuple[dict[str, Measured], list[str]]:
    """Every pipeline's runs, round robin; a pipeline that fails is not run again."""
    notes: list[str] = []
    base = _base_spec(args, folder)
    commands = _commands(args, notes)
    measured = {name: Measured(name) for name in (DETECTOR, *commands)}
    started = time.perf_counter()
    for run_index in range(args.runs):
        for name, (command, extra) in commands.items():
            entry = measured[name]
            if entry.error is not None:
                continue
            spec = {**base, **extra}
            runs_detector = name == DETECTOR or bool(spec.get("with_detector"))
            if run_index == 0 and runs_detector:
                spec["save_detections"] = spec["detections"]  # BoxMOT's input
            try:
                result = _spawn(name, command, spec, folder, run_index)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                entry.error = str(exc)
                print(f"{name}: {exc}", file=sys.stderr)
                if runs_detector:
                    raise SystemExit("the detector failed; nothing else can run") from exc
                continue
            detector_result = result.pop("detector_result", None)
            if detector_result is not None:
                measured[DETECTOR].results.append(detector_result)
            entry.results.append(result)
            elapsed = time.perf_counter() - started
            print(
                f"[{elapsed:6.1f}s] run {run_index + 1}/{args.runs} {name}: "
                f"{entry.run_fps()[-1]:.1f} fps",
                file=sys.stderr,
            )
    return measured, notes


# --- report ---------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f}"


def _percentile(values: Sequence[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


def _mean(series: list[list[float]]) -> float:
    values = [v for s in series for v in s]
    return statistics.fmean(values) if values else float("nan")


def _per_frame_median(series: list[list[float]]) -> np.ndarray:
    """The median over runs of each frame's time (runs have the same frames)."""
    length = min(len(s) for s in series)
    medians: np.ndarray = np.median(np.array([s[:length] for s in series]), axis=0)
    return medians


@dataclass(frozen=True)
class Row:
    name: str
    fps: float
    share: float  # of the detector-only fps, measured in separate runs
    own_share: float  # detector time / frame time within the pipeline's own runs
    p50_s: float
    p95_s: float
    detector_s: float
    embedder_s: float | None
    rest_s: float
    embedded_per_det: float | None
    ids: str
    rss_mib: float
    estimated: bool = False


def summarise(measured: Mapping[str, Measured]) -> tuple[list[Row], float, int]:
    detector = measured[DETECTOR]
    detector_fps = statistics.median(detector.run_fps())
    detector_frames = _per_frame_median(detector.series("latency_s"))
    detector_mean = _mean(detector.series("latency_s"))
    detections = int(detector.first["detections"])
    rows = [
        Row(
            DETECTOR,
            detector_fps,
            1.0,
            1.0,
            _percentile(detector_frames, 50),
            _percentile(detector_frames, 95),
            detector_mean,
            None,
            0.0,
            None,
            "n/a",
            detector.peak_rss_mib(),
        )
    ]
    for name, entry in measured.items():
        if name == DETECTOR or not entry.ok:
            continue
        latency = entry.series("latency_s")
        embedder = entry.series("embedder_s")
        first = entry.first
        fed = first.get("detections", detections)
        embedded = first.get("embedded", 0)
        ids = str(first.get("ids", "?"))
        if "identities" in first:
            ids = f"{first['ids']} tracks, {first['identities']} identities"
        if first.get("detector_skipped"):
            ids += f"; detector skipped on {first['detector_skipped']:.0%} of frames"
        embedder_s = _mean(embedder) if embedder else None
        if name.startswith("boxmot-"):
            # Fed detections: add the detector-only time of the same frame.
            tracking = _per_frame_median(latency)
            length = min(len(tracking), len(detector_frames))
            total = tracking[:length] + detector_frames[:length]
            fps = length / float(total.sum())
            p50, p95 = _percentile(total, 50), _percentile(total, 95)
            # The breakdown is of means over all runs, as for the other pipelines.
            detector_s = detector_mean
            rest = _mean(latency) - (embedder_s or 0.0)
            own_share = detector_s / (detector_s + _mean(latency))
            estimated = True
        else:
            fps = statistics.median(entry.run_fps())
            pooled = [v for s in latency for v in s]
            p50, p95 = _percentile(pooled, 50), _percentile(pooled, 95)
            detector_s = _mean(entry.series("detector_s"))
            rest = _mean(latency) - detector_s - (embedder_s or 0.0)
            own_share = detector_s / _mean(latency)
            estimated = False
        rows.append(
            Row(
                name,
                fps,
                fps / detector_fps,
                own_share,
                p50,
                p95,
                detector_s,
                embedder_s,
                rest,
                embedded / fed if fed else None,
                ids,
                entry.peak_rss_mib(),
                estimated,
            )
        )
    return rows, detector_fps, detections


def _table(rows: Sequence[Row]) -> str:
    cells = []
    for row in rows:
        mark = " *" if row.estimated else ""
        cells.append(
            [
                row.name,
                f"{row.fps:.1f}{mark}",
                f"{100 * row.share:.0f}%",
                f"{100 * row.own_share:.0f}%",
                f"{_ms(row.p50_s)}{mark}",
                f"{_ms(row.p95_s)}{mark}",
                f"{_ms(row.detector_s)}{mark}",
                "-" if row.embedder_s is None else _ms(row.embedder_s),
                _ms(row.rest_s),
                "-" if row.embedded_per_det is None else f"{row.embedded_per_det:.3f}",
                row.ids,
                f"{row.rss_mib:.0f}",
            ]
        )
    headers = [
        "pipeline",
        "fps",
        "of detector-only fps",
        "detector share of frame time",
        "latency p50 ms",
        "latency p95 ms",
        "detector ms/frame",
        "re-ID ms/frame",
        "rest ms/frame",
        "embedder calls / detection",
        "distinct ids",
        "peak RSS MiB",
    ]
    return markdown_table(headers, cells)


@dataclass(frozen=True)
class Meta:
    """How a measurement was made: what the report says besides the numbers."""

    command: str
    threads: int
    runs: int
    machine: list[str]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "threads": self.threads,
            "runs": self.runs,
            "machine": self.machine,
            "notes": self.notes,
        }


def render(meta: Meta, measured: Mapping[str, Measured]) -> str:
    rows, detector_fps, detections = summarise(measured)
    frames = measured[DETECTOR].first["frames"]
    threads = meta.threads
    out = [
        "## End to end on video: people-detection.mp4",
        "",
        f"Command: `{meta.command}`",
        "",
        *meta.machine,
        f"- Threads: {threads} for every pipeline (OMP/MKL/OpenBLAS = {threads}, "
        f"torch.set_num_threads({threads}), onnxruntime intra-op {threads}, CPU affinity to "
        f"{threads} core{'s' if threads > 1 else ''}, which also bounds OpenVINO's pool).",
        "",
        f"{frames} frames (768x432, 24 fps), the same for every pipeline; median of "
        f"{meta.runs} runs, interleaved, each pipeline in its own process. Detector: YOLOv8n "
        f"INT8 OpenVINO, imgsz {PEER_IMGSZ}, persons only, confidence {PEER_DETECTOR_CONF} "
        "for everyone "
        f"(`model.track()` forces 0.1, so ours uses 0.1 too), NMS IoU {PEER_NMS_IOU}: "
        f"{detections} detections. Re-ID: OSNet x0.25 MSMT17 (ours: the ONNX file on "
        "onnxruntime; BoxMOT: the torchreid `.pth` on PyTorch, via an `osnet_x0_25_msmt17.pt` "
        "symlink; two trainings of one network, see the assets README).",
        "",
        _table(rows),
        "",
        '- fps: frames / time in the per-frame call (decoding excluded). "Of detector-only '
        f'fps": the share of the detector-only rate ({detector_fps:.1f} fps), which bounds '
        "every pipeline; it comes from separate runs, so on a busy machine it can exceed 100%. "
        '"Detector share of frame time": the same bound measured inside each pipeline\'s own '
        "runs (its detector time / its frame time), which load changes affect far less.",
        "- Latency: per frame, pooled over the runs. Detector / re-ID / rest: mean ms per "
        "frame over all runs; ours from the pipeline's stage timings, Ultralytics' detector "
        "part from its own pre-process + inference + post-process timings (the tracker runs "
        'after them; its per-call overhead outside those stages lands in "rest").',
        "- \\* BoxMOT is fed the saved detections and the frames: its time is measured without "
        "a detector, and the starred figures add the detector-only time of the same frame (an "
        "estimate of the end-to-end pipeline; its peak RSS has no detector in it).",
        "- Embedder calls per detection: ours counts the crops the re-ID gate sent to the "
        "embedder; BoxMOT's appearance trackers embed every detection they are given, counted "
        "by a wrapper around its re-ID backend; Ultralytics' trackers here use no re-ID.",
        "- Distinct ids: track ids output over the video (ours also: global identities from "
        "the gallery, which is what merges a returning person with their earlier track).",
        "- BoxMOT settings: the YAML defaults (`boxmot/configs/trackers/<name>.yaml`, what "
        "`create_tracker` and its CLI use), not the class constructors' defaults, which "
        "differ (e.g. BoT-SORT's YAML has track_high_thresh 0.63, new_track_thresh 0.62, "
        "track_buffer 40, appearance_thresh 0.62, cmc sof; its constructor 0.5 / 0.6 / 30 / "
        "0.25 / ecc). BoT-SORT's frame_rate stays at its YAML 30 on this 24 fps video.",
        "- Ultralytics' BoT-SORT with re-ID (`with_reid: True`) is not run: with an exported "
        "(OpenVINO) detector it cannot reuse the detector's features and loads "
        "`yolo26n-cls.pt` instead, a download that cannot happen on this offline machine. "
        "Its rows are motion only (botsort.yaml: GMC sparseOptFlow on; bytetrack.yaml).",
    ]
    for name, entry in measured.items():
        if entry.error:
            first_line = entry.error.splitlines()[0]
            out.append(f"- **{name} failed**: {first_line} (see the script's stderr).")
    out += [f"- {note}" for note in meta.notes]
    out += _standing(rows)
    out += ["", "<details><summary>Settings each pipeline ran with</summary>", ""]
    for name, entry in measured.items():
        if entry.ok and entry.first.get("settings"):
            out.append(f"- {name}: `{json.dumps(entry.first['settings'], default=str)}`")
    out += ["", "</details>"]
    return "\n".join(out)


def _standing(rows: Sequence[Row]) -> list[str]:
    ours = next((r for r in rows if r.name == OURS), None)
    # Peers only: the detector alone bounds everyone, and ours-motion is ours.
    others = [r for r in rows if r.name not in (OURS, OURS_MOTION, DETECTOR)]
    if ours is None or not others:
        return []
    out = ["", "### Ours against the peers", ""]
    faster = [r for r in others if r.fps > ours.fps]
    if faster:
        detail = ", ".join(f"{r.name} {r.fps:.1f}" for r in faster)
        out.append(f"- **Behind** on fps: {detail} (ours {ours.fps:.1f}).")
    else:
        out.append(f"- Ahead on fps: the fastest pipeline here at {ours.fps:.1f} fps.")
    ratios = ", ".join(f"{ours.fps / r.fps:.2f}x {r.name}" for r in others if r.fps > 0)
    out.append(f"- Ours (re-ID on, no motion gating) runs at {ratios} (same run).")
    out.extend(_motion_standing(rows))
    mine = ours.rest_s + (ours.embedder_s or 0.0)
    beyond = ", ".join(f"{r.name} {_ms(r.rest_s + (r.embedder_s or 0.0))}" for r in others)
    leaner = [r for r in others if r.rest_s + (r.embedder_s or 0.0) < mine]
    verdict = "**behind** " + ", ".join(r.name for r in leaner) if leaner else "the least of all"
    out.append(
        f"- Time beyond the detector (re-ID + the rest, mean ms a frame, same-run): ours "
        f"{_ms(mine)}, {verdict}; peers: {beyond}."
    )
    lighter = [r for r in others if r.rss_mib < ours.rss_mib]
    if lighter:
        detail = ", ".join(f"{r.name} {r.rss_mib:.0f}" for r in lighter)
        note = " (BoxMOT's without a detector loaded)" if any(r.estimated for r in lighter) else ""
        out.append(
            f"- **Behind** on peak RSS: ours {ours.rss_mib:.0f} MiB, more than {detail} MiB{note}."
        )
    appearance = [r for r in others if r.embedded_per_det]
    if appearance and ours.embedded_per_det is not None:
        out.append(
            f"- Ours embedded {ours.embedded_per_det:.1%} of the detections; BoxMOT's "
            "appearance trackers embed every one ("
            + ", ".join(f"{r.name} {r.embedded_per_det:.0%}" for r in appearance)
            + ")."
        )
    return out


def _motion_standing(rows: Sequence[Row]) -> list[str]:
    """Ours with motion-aware detection against the detector alone, in the same run."""
    gated = next((r for r in rows if r.name == OURS_MOTION), None)
    detector = next((r for r in rows if r.name == DETECTOR), None)
    if gated is None or detector is None or detector.fps <= 0:
        return []
    return [
        f"- Ours with motion-aware detection: {gated.fps:.1f} fps, "
        f"{gated.fps / detector.fps:.2f}x the detector-only fps ({detector.fps:.1f}), re-ID on."
    ]


# --- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Our pipeline beside Ultralytics' and BoxMOT's trackers on the video.",
    )
    parser.add_argument("--video", type=Path, help="default: $TRACKER_ASSETS/videos/...")
    parser.add_argument("--detector", type=Path, help="Ultralytics export (default: shared)")
    parser.add_argument("--reid-onnx", type=Path, help="ONNX OSNet for ours")
    parser.add_argument("--reid-weights", type=Path, help="torchreid OSNet .pth for BoxMOT")
    parser.add_argument("--frames", type=int, default=100_000, help="first N frames only")
    parser.add_argument("--runs", type=int, default=3, help="runs per pipeline (median)")
    parser.add_argument("--threads", type=int, default=usable_cpus(), help="CPU threads each")
    parser.add_argument("--pipelines", nargs="+", choices=PIPELINES, default=None)
    parser.add_argument("--boxmot-venv", type=Path, default=BOXMOT_VENV)
    parser.add_argument(
        "--no-boxmot-setup",
        action="store_true",
        help="skip BoxMOT when its venv is missing instead of creating it",
    )
    parser.add_argument(
        "--results",
        type=Path,
        help=f"results file whose section is rewritten (default: {RESULTS_FILE.name}; "
        "--quick writes none unless given)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw measurements here")
    parser.add_argument(
        "--from-json",
        type=Path,
        help="measure nothing: render the report of an earlier --json file",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_FRAMES} frames, 1 run, {', '.join(QUICK_PIPELINES)}",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.frames = min(args.frames, QUICK_FRAMES)
        args.runs = 1
        args.pipelines = args.pipelines or list(QUICK_PIPELINES)
    elif args.results is None:
        args.results = RESULTS_FILE
    args.pipelines = args.pipelines or list(PIPELINES)
    if args.threads < 1 or args.runs < 1 or args.frames < 1:
        parser.error("--threads, --runs and --frames must be positive")
    return args


def load_raw(path: Path) -> tuple[Meta, dict[str, Measured]]:
    """A `--json` file back: the measurement's description and every pipeline's results."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    meta = Meta(**raw["meta"])
    measured = {
        name: Measured(name, entry["results"], entry["error"])
        for name, entry in raw["pipelines"].items()
    }
    return meta, measured


def main(argv: Sequence[str] | None = None) -> int:
    raw_argv = list(sys.argv[1:] if argv is None else argv)
    if raw_argv[:1] == ["--worker"] and len(raw_argv) == 2:
        return run_worker(Path(raw_argv[1]))
    args = parse_args(raw_argv)
    if args.from_json is not None:
        meta, measured = load_raw(args.from_json)
    else:
        with tempfile.TemporaryDirectory(prefix="video-e2e-") as folder:
            measured, notes = measure(args, Path(folder))
        extra_versions = {}
        python = args.boxmot_venv / "bin" / "python"
        if any(name in BOXMOT for name in measured) and python.exists():
            version = boxmot_version(python)
            if version:
                extra_versions["boxmot"] = version
        meta = Meta(
            command_line("video_e2e.py", raw_argv),
            args.threads,
            args.runs,
            machine_lines(extra_versions),
            notes,
        )
    body = render(meta, measured)
    print(body)
    if args.results is not None:
        write_section(args.results, SECTION, body)
        print(f"\nwrote section '{SECTION}' of {args.results}", file=sys.stderr)
    if args.json is not None and args.from_json is None:
        pipelines = {name: {"results": m.results, "error": m.error} for name, m in measured.items()}
        write_json(args.json, {"meta": meta.to_dict(), "pipelines": pipelines})
    return 0 if all(m.ok for m in measured.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
