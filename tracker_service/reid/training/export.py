"""ONNX export of a re-ID model for the service's `OnnxEmbedder`, verified, with a card.

The graph has one input `images` (batch x 3 x H x W, float32; float16 with `fp16`) with a
dynamic batch axis and fixed H and W (the embedder resizes crops to them), and one output
`features` (batch x D), not normalised (the embedder L2-normalises). Preprocessing stays
outside the graph and is recorded in the model card: BGR -> RGB, resize to W x H, /255,
ImageNet mean/std, exactly `reid.preprocess`.

Exporter: torch 2.13's default, the dynamo-based one (`torch.export` + onnxscript), which
is where PyTorch's ONNX support is maintained. It takes about 15 s for OSNet x0.25 on two
CPU cores. `exporter="auto"` falls back to the TorchScript exporter (`dynamo=False`,
deprecated but still shipped) only if the dynamo export raises, and the card records which
one produced the file.

FP16: the verified float32 graph is converted with ONNX Runtime's float16 converter, input
and output included (half the bytes per batch on a GPU). The GeM/average pooling ops
(Pow, ReduceMean) stay float32: x^p over a feature map overflows float16 (65504) once
activations pass about 40.

Verification: the exported model's outputs are compared with PyTorch's float32 outputs on
the given crops (cosine per crop must reach `min_cosine`), on a batch and one at a time
(so the dynamic batch really works), and the file is then loaded by `OnnxEmbedder`
exactly as the service would load it. Files are written only once all of that passed.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import onnxruntime as ort
import torch
from numpy.typing import NDArray
from torch import nn

from tracker_service.model_store import card_path_for, sha256_of
from tracker_service.reid.onnx_embedder import OnnxEmbedder
from tracker_service.reid.preprocess import IMAGENET_MEAN, IMAGENET_STD, preprocess_batch
from tracker_service.reid.training.checkpoint import LoadedModel

logger = logging.getLogger(__name__)

Exporter = Literal["auto", "dynamo", "torchscript"]
INPUT_NAME = "images"
OUTPUT_NAME = "features"
DEFAULT_OPSET = 18
# Kept in float32 by the fp16 conversion (see the module docstring).
FP16_KEEP_FLOAT32 = ("Pow", "ReduceMean")
_TRACE_BATCH = 2  # torch.export specialises dimensions of size 0 and 1
_EXPORTER_LOGGERS = ("onnx_ir", "onnxscript", "torch.onnx", "torch.export")


class ExportError(RuntimeError):
    """The export failed or its result does not match PyTorch's outputs."""


@dataclass(frozen=True)
class Verification:
    images: int
    source: str  # where the verification images came from
    min_cosine: float
    mean_cosine: float
    batch_vs_single_max_abs: float  # the ONNX model at batch N vs batch 1
    embedder_min_cosine: float  # OnnxEmbedder.embed vs PyTorch (after both normalise)


@dataclass(frozen=True)
class ExportResult:
    onnx_path: Path
    card_path: Path
    exporter: str  # "dynamo" or "torchscript"
    opset: int
    fp16: bool
    verification: Verification


@contextmanager
def _quiet(logger_names: Sequence[str]) -> Iterator[None]:
    """Hold the exporter's per-pass INFO chatter (hundreds of lines) back."""
    loggers = [logging.getLogger(name) for name in logger_names]
    levels = [item.level for item in loggers]
    for item in loggers:
        item.setLevel(max(item.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for item, level in zip(loggers, levels, strict=True):
            item.setLevel(level)


def _export_dynamo(model: nn.Module, sample: torch.Tensor, path: Path, opset: int) -> None:
    batch = torch.export.Dim("batch", min=1, max=4096)
    with _quiet(_EXPORTER_LOGGERS), warnings.catch_warnings():
        # torch.export's own use of a deprecated pytree API, nothing the caller can act on.
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        _dynamo_export(model, sample, path, opset, batch)


def _dynamo_export(
    model: nn.Module, sample: torch.Tensor, path: Path, opset: int, batch: Any
) -> None:
    torch.onnx.export(
        model,
        (sample,),
        str(path),
        dynamo=True,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes=({0: batch},),
        opset_version=opset,
        external_data=False,  # one self-contained file (re-ID models are far below 2 GB)
        verbose=False,
    )


def _export_torchscript(model: nn.Module, sample: torch.Tensor, path: Path, opset: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        torch.onnx.export(
            model,
            (sample,),
            str(path),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
            do_constant_folding=True,
        )


def _export_float32(
    model: nn.Module, size: tuple[int, int], path: Path, opset: int, exporter: Exporter
) -> str:
    """Write the float32 graph to `path`; returns the exporter that produced it."""
    width, height = size
    sample = torch.zeros(_TRACE_BATCH, 3, height, width)
    if exporter in ("auto", "dynamo"):
        try:
            _export_dynamo(model, sample, path, opset)
            return "dynamo"
        except Exception as exc:  # the exporter raises many types; all mean "try the other"
            if exporter == "dynamo":
                raise ExportError(f"the dynamo ONNX exporter failed: {exc}") from None
            logger.warning("dynamo ONNX export failed (%s); using the TorchScript exporter", exc)
    try:
        _export_torchscript(model, sample, path, opset)
    except Exception as exc:  # as above
        raise ExportError(f"the TorchScript ONNX exporter failed: {exc}") from None
    return "torchscript"


def _to_float16(source: Path, target: Path) -> None:
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = convert_float_to_float16(
        onnx.load(str(source)),
        keep_io_types=False,
        op_block_list=[*DEFAULT_OP_BLOCK_LIST, *FP16_KEEP_FLOAT32],
    )
    onnx.save(model, str(target))


def _cosines(first: NDArray[np.float32], second: NDArray[np.float32]) -> NDArray[np.float64]:
    first64, second64 = first.astype(np.float64), second.astype(np.float64)
    norms = np.linalg.norm(first64, axis=1) * np.linalg.norm(second64, axis=1)
    cosines: NDArray[np.float64] = np.sum(first64 * second64, axis=1) / np.maximum(norms, 1e-12)
    return cosines


def _run_onnx(path: Path, batch: NDArray[np.float32], fp16: bool) -> NDArray[np.float32]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = batch.astype(np.float16) if fp16 else batch
    output: NDArray[Any] = session.run(None, {INPUT_NAME: feed})[0]
    return output.astype(np.float32)


def _check_finite(path: Path, size: tuple[int, int], fp16: bool) -> None:
    """Random-pixel crops, like the probe `OnnxEmbedder` runs at load, must give finite
    features: a float16 graph can overflow on inputs busier than the real crops."""
    width, height = size
    pixels = np.random.default_rng(0).integers(0, 256, (4, height, width, 3), dtype=np.uint8)
    output = _run_onnx(path, preprocess_batch(list(pixels), size), fp16)
    if not np.isfinite(output).all():
        raise ExportError(
            "the exported model gives non-finite features on random-pixel input"
            + (" (a float16 overflow: export without --fp16)" if fp16 else "")
        )


def _verify(
    loaded: LoadedModel,
    path: Path,
    crops: Sequence[NDArray[np.uint8]],
    *,
    source: str,
    fp16: bool,
    min_cosine: float,
) -> Verification:
    _check_finite(path, loaded.info.input_size, fp16)
    batch = preprocess_batch(crops, loaded.info.input_size)
    with torch.inference_mode():
        reference = loaded.module(torch.from_numpy(batch)).numpy()
    batched = _run_onnx(path, batch, fp16)
    single = np.concatenate([_run_onnx(path, batch[i : i + 1], fp16) for i in range(len(batch))])
    cosines = _cosines(batched, reference)
    embedder = OnnxEmbedder(path, device="cpu", max_batch=len(crops), threads=1)
    if embedder.dim != loaded.info.embedding_dim:
        raise ExportError(
            f"OnnxEmbedder reads {embedder.dim}-d features, not {loaded.info.embedding_dim}"
        )
    embedder_cosines = _cosines(embedder.embed(crops), reference)
    verification = Verification(
        images=len(crops),
        source=source,
        min_cosine=round(float(cosines.min()), 8),
        mean_cosine=round(float(cosines.mean()), 8),
        batch_vs_single_max_abs=float(np.abs(batched - single).max()),
        embedder_min_cosine=round(float(embedder_cosines.min()), 8),
    )
    worst = min(verification.min_cosine, verification.embedder_min_cosine)
    if not worst >= min_cosine:  # written so that NaN fails too
        raise ExportError(
            f"the ONNX model does not reproduce PyTorch's features: cosine {worst:.6f} "
            f"is below {min_cosine}"
        )
    if embedder.batching != "dynamic":
        raise ExportError(
            "OnnxEmbedder would run this model one crop at a time: its load-time check "
            "found batched and per-crop outputs differ"
        )
    return verification


def model_card(
    loaded: LoadedModel,
    onnx_path: Path,
    *,
    exporter: str,
    opset: int,
    fp16: bool,
    check: Verification,
) -> dict[str, Any]:
    """What a user (or another tool) needs to run and trust the exported file."""
    info = loaded.info
    width, height = info.input_size
    dtype = "float16" if fp16 else "float32"
    card: dict[str, Any] = {
        "name": onnx_path.stem,
        "file": onnx_path.name,
        "sha256": sha256_of(onnx_path),
        "task": "person re-identification embedding",
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", 3, height, width],
            "dtype": dtype,
            "size_wh": [width, height],
            "preprocessing": "BGR->RGB, resize to size_wh (bilinear), /255, (x - mean) / std",
            "color_order": "RGB",
            "mean": [round(float(v), 4) for v in IMAGENET_MEAN],
            "std": [round(float(v), 4) for v in IMAGENET_STD],
        },
        "output": {
            "name": OUTPUT_NAME,
            "shape": ["batch", info.embedding_dim],
            "dtype": dtype,
            "normalised": False,
            "compare_with": "cosine similarity after L2 normalisation",
        },
        "embedding_size": info.embedding_dim,
        "backbone": info.backbone,
        "pooling": info.pooling,
        "head": info.head,
        "source_weights": {
            "path": str(info.source),
            "sha256": sha256_of(info.source),
            "kind": info.kind,
            "epoch": info.epoch,
            "training_classes": info.num_classes,
        },
        "export": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "exporter": f"torch.onnx ({exporter})",
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "opset": opset,
            "fp16": fp16,
        },
        "verification": asdict(check),
    }
    if loaded.config is not None:
        card["training"] = {
            "dataset_format": loaded.config.data.format,
            "dataset_root": str(loaded.config.data.root),
            "epochs": loaded.config.schedule.epochs,
        }
    return card


def _default_opset(path: Path) -> int:
    """The opset the file declares (the exporter may raise the one asked for)."""
    model = onnx.load(str(path), load_external_data=False)
    return next(
        int(entry.version) for entry in model.opset_import if entry.domain in ("", "ai.onnx")
    )


def random_crops(count: int) -> list[NDArray[np.uint8]]:
    """Crops of random pixels to verify an export on when no real crops are at hand: weaker
    than real ones (no person structure), but they still run the whole graph."""
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (160, 64, 3), dtype=np.uint8) for _ in range(count)]


def export_onnx(
    loaded: LoadedModel,
    out: Path,
    crops: Sequence[NDArray[np.uint8]],
    *,
    crops_source: str,
    fp16: bool = False,
    opset: int = DEFAULT_OPSET,
    exporter: Exporter = "auto",
    min_cosine: float = 0.999,
) -> ExportResult:
    """Export, verify on `crops` (BGR uint8) and write `out` and its card `<out stem>.json`.

    Raises ExportError when the export fails or does not match PyTorch.
    """
    if not crops:
        raise ValueError("export verification needs at least one crop")
    model = loaded.module.eval().cpu()
    with tempfile.TemporaryDirectory(prefix="reid-export-") as scratch:
        float32_path = Path(scratch) / "float32.onnx"
        used = _export_float32(model, loaded.info.input_size, float32_path, opset, exporter)
        final = float32_path
        if fp16:
            final = Path(scratch) / "float16.onnx"
            _to_float16(float32_path, final)
        check = _verify(loaded, final, crops, source=crops_source, fp16=fp16, min_cosine=min_cosine)
        written_opset = _default_opset(final)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(final, out)  # the scratch folder may be on another filesystem
    card = model_card(loaded, out, exporter=used, opset=written_opset, fp16=fp16, check=check)
    card_path = card_path_for(out)
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    logger.info("exported %s (%s exporter, min cosine %.6f)", out, used, check.min_cosine)
    return ExportResult(out, card_path, used, written_opset, fp16, check)
