"""`tracker-service reid train|eval|export|build-dataset`: the re-ID model toolkit."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the toolkit (PyTorch) is imported inside the commands that use it
    import numpy as np
    from numpy.typing import NDArray

    from tracker_service.reid.training.config import TrainConfig

# Verification images read from --crops at most (a forward pass each, twice).
MAX_VERIFY_CROPS = 64
RANDOM_VERIFY_CROPS = 8
MODEL_HELP = (
    "a checkpoint or model_final.pt of `reid train`, a torchreid OSNet .pth, or a manifest "
    "name such as osnet_x0_25_msmt17_torch"
)
MODELS_DIR_HELP = "where manifest names are looked up (default: the service's models_dir)"


def register(subparsers: Any) -> None:
    reid = subparsers.add_parser(
        "reid",
        help="train, evaluate and export person re-ID embedders",
        description="Re-ID model toolkit (bag-of-tricks recipe); see "
        "tracker_service/reid/training/README.md.",
    )
    commands = reid.add_subparsers(dest="reid_command", required=True, metavar="ACTION")
    _register_train(commands)
    _register_eval(commands)
    _register_export(commands)
    _register_build(commands)


def _register_train(commands: Any) -> None:
    train = commands.add_parser("train", help="train a re-ID model from a YAML config")
    train.add_argument("--config", type=Path, help="training YAML (configs/reid/*.yaml)")
    train.add_argument("--output", type=Path, help="run folder (default: the resumed run's)")
    train.add_argument("--resume", type=Path, help="checkpoint to continue from")
    train.add_argument("--data-root", type=Path, help="override data.root")
    train.add_argument("--data-format", choices=["market1501", "folder"])
    train.add_argument("--pretrained", type=Path, help="override model.pretrained")
    train.add_argument("--epochs", type=int, help="override schedule.epochs")
    train.add_argument("--device", help="override run.device (auto, cpu, cuda, cuda:N)")
    train.add_argument("--workers", type=int, help="override data.workers")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(handler=run_train)


def _register_eval(commands: Any) -> None:
    evaluate = commands.add_parser(
        "eval", help="CMC / mAP / mINP of a model on a query/gallery dataset"
    )
    evaluate.add_argument("model", help=MODEL_HELP)
    evaluate.add_argument("--models-dir", type=Path, help=MODELS_DIR_HELP)
    evaluate.add_argument("--data", type=Path, required=True, help="dataset root")
    evaluate.add_argument("--format", choices=["market1501", "folder"], default="market1501")
    evaluate.add_argument("--metric", choices=["cosine", "euclidean"], default="cosine")
    evaluate.add_argument("--flip", action="store_true", help="average with mirrored images")
    evaluate.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking")
    evaluate.add_argument("--qe", choices=["none", "aqe", "average"], default="none")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--batch-size", type=int, default=128)
    evaluate.add_argument("--workers", type=int, default=2)
    evaluate.add_argument("--json", type=Path, help="also write the metrics here")
    evaluate.set_defaults(handler=run_eval)


def _register_export(commands: Any) -> None:
    export = commands.add_parser(
        "export", help="export to ONNX for the service (verified, with a model card)"
    )
    export.add_argument("model", help=MODEL_HELP)
    export.add_argument("--models-dir", type=Path, help=MODELS_DIR_HELP)
    export.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    export.add_argument("--crops", type=Path, help="folder of real crops to verify on")
    export.add_argument("--fp16", action="store_true", help="float16 weights, input, output")
    export.add_argument("--opset", type=int, default=18)
    export.add_argument("--exporter", choices=["auto", "dynamo", "torchscript"], default="auto")
    export.add_argument("--min-cosine", type=float, default=0.999)
    export.set_defaults(handler=run_export)


def _register_build(commands: Any) -> None:
    from tracker_service.cli.track import add_model_options

    build = commands.add_parser(
        "build-dataset",
        help="a re-ID dataset from the pipeline's tracks of a video",
        description="Cut crops of confirmed tracks into the folder layout (train, and "
        "query/gallery with --split time). Without --tracks the pipeline is run first.",
    )
    build.add_argument("video", type=Path)
    build.add_argument("--out", type=Path, required=True, help="dataset root")
    build.add_argument("--tracks", type=Path, help="tracks.jsonl of an existing run")
    build.add_argument("--camera", help="camera name (default: the video's file name)")
    build.add_argument("--label", choices=["track", "identity"], default="track")
    build.add_argument("--split", choices=["none", "time"], default="time")
    build.add_argument("--test-fraction", type=float, default=0.3)
    build.add_argument("--min-height", type=int, default=64, help="pixels")
    build.add_argument("--min-score", type=float, default=0.5)
    build.add_argument("--min-crops", type=int, default=4, help="per identity")
    build.add_argument("--max-crops", type=int, default=32, help="per track")
    build.add_argument("--gallery", type=Path, help="identity gallery to share across cameras")
    add_model_options(build)
    build.set_defaults(handler=run_build)


# --- train --------------------------------------------------------------------------------


def _train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, dict[str, Any]] = {}

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            overrides.setdefault(section, {})[key] = value

    put("data", "root", None if args.data_root is None else str(args.data_root))
    put("data", "format", args.data_format)
    put("data", "workers", args.workers)
    put("model", "pretrained", None if args.pretrained is None else str(args.pretrained))
    put("schedule", "epochs", args.epochs)
    put("run", "device", args.device)
    return overrides


def _train_config(args: argparse.Namespace) -> TrainConfig:
    from tracker_service.reid.training.checkpoint import read_checkpoint
    from tracker_service.reid.training.config import load_train_config, parse_train_config

    overrides = _train_overrides(args)
    if args.config is not None or args.resume is None:
        return load_train_config(args.config, overrides)
    stored = read_checkpoint(args.resume)["config"]
    merged = parse_train_config(stored).model_dump(mode="json")
    for section, values in overrides.items():
        merged[section] = {**merged[section], **values}
    return parse_train_config(merged, f"config stored in {args.resume} < command line")


def run_train(args: argparse.Namespace) -> int:
    from tracker_service.cli import UsageError
    from tracker_service.reid.training.datasets import DatasetError
    from tracker_service.reid.training.engine import train

    config = _train_config(args)
    output: Path | None = args.output
    if output is None:
        if args.resume is None:
            raise UsageError("--output is required (unless --resume names a run's checkpoint)")
        output = args.resume.resolve().parent.parent
    try:
        result = train(config, output, resume=args.resume, progress=not args.no_progress)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    print(f"trained {result.epochs_completed} epochs -> {result.final_model} (log {result.log})")
    if result.metrics is not None:
        print(_format_metrics(result.metrics))
    return 0


# --- eval ---------------------------------------------------------------------------------


def _format_metrics(metrics: dict[str, float | int]) -> str:
    return (
        f"Rank-1 {metrics['rank1']:.2f}  Rank-5 {metrics['rank5']:.2f}  "
        f"Rank-10 {metrics['rank10']:.2f}  mAP {metrics['mAP']:.2f}  "
        f"mINP {metrics['mINP']:.2f}  ({metrics['queries']} queries)"
    )


def _model_path(args: argparse.Namespace) -> Path:
    """The model argument as a file: a path, or a manifest name resolved like the service's."""
    from tracker_service.config import load_config
    from tracker_service.model_store import resolve_model

    models_dir: Path = args.models_dir or load_config().models_dir
    return Path(resolve_model(args.model, "reid", models_dir))


def run_eval(args: argparse.Namespace) -> int:
    from tracker_service.cli import UsageError
    from tracker_service.reid.training.checkpoint import load_inference_model
    from tracker_service.reid.training.config import EvalConfig
    from tracker_service.reid.training.datasets import DatasetError, load_splits
    from tracker_service.reid.training.evaluate import evaluate_model, torch_device

    model_path = _model_path(args)
    loaded = load_inference_model(model_path)
    try:
        splits = load_splits(args.format, args.data)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    if not splits.can_evaluate:
        raise UsageError(f"{args.data} has no query and gallery images to evaluate on")

    settings = EvalConfig(
        metric=args.metric,
        flip=args.flip,
        rerank=args.rerank,
        query_expansion=args.qe,
        batch_size=args.batch_size,
    )
    device = torch_device(args.device)
    module = loaded.module.to(device)
    metrics = evaluate_model(
        module, splits, settings, loaded.info.input_size, device=device, workers=args.workers
    ).summary()
    print(
        f"{model_path.name} ({loaded.info.backbone}, {loaded.info.embedding_dim}-d) on "
        f"{args.data}: {len(splits.query)} query, {len(splits.gallery)} gallery images"
    )
    print(_format_metrics(metrics))
    if args.json is not None:
        report = {"model": str(model_path), "data": str(args.data), **settings.model_dump()}
        args.json.write_text(json.dumps(report | metrics, indent=2) + "\n", encoding="utf-8")
    return 0


# --- export -------------------------------------------------------------------------------


def _verification_crops(folder: Path | None) -> tuple[list[NDArray[np.uint8]], str]:
    from tracker_service.cli import UsageError
    from tracker_service.reid.training.datasets import IMAGE_SUFFIXES, read_image

    if folder is None:
        from tracker_service.reid.training.export import random_crops

        return random_crops(RANDOM_VERIFY_CROPS), "random pixels (no --crops given)"
    if not folder.is_dir():
        raise UsageError(f"--crops {folder} is not a folder")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise UsageError(f"--crops {folder} holds no images")
    return [read_image(path) for path in paths[:MAX_VERIFY_CROPS]], f"{folder} ({len(paths)})"


def run_export(args: argparse.Namespace) -> int:
    from tracker_service.reid.training.checkpoint import load_inference_model
    from tracker_service.reid.training.export import ExportError, export_onnx

    loaded = load_inference_model(_model_path(args))
    crops, source = _verification_crops(args.crops)
    try:
        result = export_onnx(
            loaded,
            args.out,
            crops,
            crops_source=source,
            fp16=args.fp16,
            opset=args.opset,
            exporter=args.exporter,
            min_cosine=args.min_cosine,
        )
    except ExportError as exc:
        print(f"tracker-service reid export: failed: {exc}", file=sys.stderr)
        return 1
    check = result.verification
    print(
        f"{result.onnx_path} ({'fp16' if result.fp16 else 'fp32'}, {result.exporter} exporter, "
        f"opset {result.opset}); card {result.card_path}\n"
        f"verified on {check.images} images from {check.source}: cosine to PyTorch min "
        f"{check.min_cosine:.8f}, mean {check.mean_cosine:.8f}; OnnxEmbedder min "
        f"{check.embedder_min_cosine:.8f}\n"
        f"use it: TRACKER_EMBEDDER={result.onnx_path} tracker-service serve"
    )
    return 0


# --- build-dataset ------------------------------------------------------------------------


def _tracks_from_pipeline(args: argparse.Namespace, camera: str) -> Path:
    """Run the pipeline over the video (no annotated video) and return its tracks file."""
    from tracker_service.cli import UsageError
    from tracker_service.cli.track import cli_overrides
    from tracker_service.config import load_config
    from tracker_service.runner import run_video
    from tracker_service.runtime import load_models, open_gallery
    from tracker_service.sinks import TRACKS_FILE
    from tracker_service.video_file import SourceError

    overrides = cli_overrides(args) | {"output": {"video": False}}
    config = load_config(args.config, overrides)
    run_dir: Path = args.out / "runs" / camera
    models = load_models(config)
    gallery = open_gallery(config, models, args.gallery)
    try:
        run_video(args.video, run_dir, config, models, gallery, source_name=camera)
    except SourceError as exc:
        raise UsageError(str(exc)) from None
    finally:
        gallery.close()
    return run_dir / TRACKS_FILE


def run_build(args: argparse.Namespace) -> int:
    from tracker_service.cli import UsageError
    from tracker_service.reid.training.build_dataset import (
        BuildError,
        BuildOptions,
        build_dataset,
        camera_label,
    )
    from tracker_service.video_file import SourceError

    if not args.video.is_file():
        raise UsageError(f"video {args.video} does not exist or is not a file")
    try:
        camera = camera_label(args.camera or args.video.stem)
        options = BuildOptions(
            camera=camera,
            label=args.label,
            split=args.split,
            test_fraction=args.test_fraction,
            min_height=args.min_height,
            min_score=args.min_score,
            min_crops=args.min_crops,
            max_crops=args.max_crops,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    tracks = args.tracks or _tracks_from_pipeline(args, camera)
    try:
        summary = build_dataset(tracks, args.video, args.out, options)
    except (BuildError, SourceError) as exc:
        raise UsageError(str(exc)) from None
    splits = ", ".join(
        f"{split}: {summary.labels[split]} identities / {summary.crops[split]} crops"
        for split in summary.crops
    )
    print(f"{args.out}: {splits} (from {summary.tracks_read} tracks of {tracks})")
    return 0
