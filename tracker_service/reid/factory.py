"""Choosing and loading the re-ID embedder from the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tracker_service.config import EmbedderConfig
from tracker_service.model_store import ModelError, resolve_model
from tracker_service.reid.base import Embedder
from tracker_service.reid.onnx_embedder import OnnxEmbedder
from tracker_service.reid.torch_embedder import TorchEmbedder

Backend = Literal["onnx", "torch"]
_SUFFIX_BACKENDS: tuple[tuple[str, Backend], ...] = (
    (".onnx", "onnx"),
    (".pth.tar", "torch"),
    (".pth", "torch"),
    (".pt", "torch"),
)
SUPPORTED_KINDS = "ONNX (.onnx) or a torchreid OSNet state dict (.pth, .pt, .pth.tar)"


@dataclass(frozen=True)
class EmbedderInfo:
    """What the service reports about the loaded embedder."""

    backend: str
    model_path: str
    dim: int
    input_size: tuple[int, int]  # (width, height) crops are resized to
    device: str
    max_batch: int
    batching: str  # dynamic, made-dynamic (ONNX fixed batch lifted), or fixed
    threads: int


def backend_for(path: Path) -> Backend:
    """The backend that loads `path`, by file type; ModelError for anything else."""
    name = path.name.lower()
    for suffix, backend in _SUFFIX_BACKENDS:
        if name.endswith(suffix):
            return backend
    raise ModelError(f"re-ID model {path} has an unsupported file type; expected {SUPPORTED_KINDS}")


def load_embedder(
    config: EmbedderConfig, models_dir: Path, base_url: str | None = None
) -> Embedder:
    """Resolve `config.model` and load it with the configured (or file-implied) backend.

    Raises ModelError when the model cannot be found, is of an unsupported type, or does
    not load; ConfigError for a device setting that is not auto, cpu, cuda or cuda:N.
    """
    path = Path(resolve_model(config.model, "reid", models_dir, base_url))
    if path.is_dir():
        raise ModelError(f"re-ID model {path} is a directory; expected a file: {SUPPORTED_KINDS}")
    backend = backend_for(path) if config.backend == "auto" else config.backend
    embedder_type = OnnxEmbedder if backend == "onnx" else TorchEmbedder
    return embedder_type(
        path, device=config.device, max_batch=config.max_batch, threads=config.threads
    )


def describe(embedder: Embedder) -> EmbedderInfo:
    """The service-facing summary of an embedder made by `load_embedder`."""
    if not isinstance(embedder, OnnxEmbedder | TorchEmbedder):
        raise TypeError(f"cannot describe {type(embedder).__name__}: not a built-in backend")
    return EmbedderInfo(
        backend=embedder.backend,
        model_path=str(embedder.model_path),
        dim=embedder.dim,
        input_size=embedder.input_size,
        device=embedder.device,
        max_batch=embedder.max_batch,
        batching=embedder.batching,
        threads=embedder.threads,
    )
