"""Training checkpoints, and loading any supported re-ID model for evaluation or export.

A checkpoint is one `torch.save`d dict of plain values and tensors, so it loads with
`torch.load(weights_only=True)` (no pickled code runs from a model file):

    format "tracker-service-reid", version, epoch (epochs completed), config (the training
    config as JSON-able data), num_classes, model (state dict), and for resuming:
    optimizer, scheduler, center_loss, center_optimizer, scaler, torch_rng.

`model_final.pt` is the same without the resume parts. `load_inference_model` also takes
a torchreid OSNet state dict (the model-zoo `.pth` files), evaluated and exported as the
service's `TorchEmbedder` runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tracker_service.model_store import ModelError
from tracker_service.reid.osnet import infer_variant, load_osnet, load_torchreid_state_dict
from tracker_service.reid.preprocess import DEFAULT_INPUT_SIZE
from tracker_service.reid.training.config import TrainConfig, parse_train_config
from tracker_service.reid.training.models import ReidModel, build_model

CHECKPOINT_FORMAT = "tracker-service-reid"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class ModelInfo:
    """What a model card and an evaluation report say about a loaded model."""

    kind: str  # "checkpoint" (trained here) or "torchreid" (a model-zoo state dict)
    backbone: str
    pooling: str
    head: str
    embedding_dim: int
    input_size: tuple[int, int]  # (width, height)
    num_classes: int
    epoch: int | None
    source: Path


@dataclass(frozen=True)
class LoadedModel:
    module: nn.Module  # eval mode; forward(images) -> (N, embedding_dim)
    info: ModelInfo
    config: TrainConfig | None  # the training config of a checkpoint


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint file as a dict; ModelError for a missing or foreign file."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"checkpoint not found: {path}") from None
    except Exception as exc:  # torch raises many types for a bad file; all mean the same
        raise ModelError(f"{path} is not a loadable checkpoint: {exc}") from None
    if not isinstance(loaded, dict) or loaded.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    if loaded.get("version") != CHECKPOINT_VERSION:
        raise ModelError(f"{path}: checkpoint version {loaded.get('version')} is unsupported")
    return loaded


def save_checkpoint(path: Path, payload: Mapping[str, Any]) -> None:
    """Write atomically: a run killed mid-save leaves the previous checkpoint intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}, partial)
    partial.replace(path)


def _try_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not loadable as a plain dict: the torchreid path reports why
        return None


def _from_checkpoint(path: Path, checkpoint: Mapping[str, Any]) -> LoadedModel:
    if checkpoint.get("version") != CHECKPOINT_VERSION:
        raise ModelError(f"{path}: checkpoint version {checkpoint.get('version')} is unsupported")
    config = parse_train_config(checkpoint["config"], f"config stored in {path}")
    model: ReidModel = build_model(config.model, int(checkpoint["num_classes"]), False)
    model.load_state_dict(checkpoint["model"], strict=True)
    info = ModelInfo(
        kind="checkpoint",
        backbone=config.model.backbone,
        pooling=config.model.pooling,
        head="bnneck" if config.model.embedding_dim == 0 else "reduction+bnneck",
        embedding_dim=model.embedding_dim,
        input_size=config.data.size,
        num_classes=model.num_classes,
        epoch=int(checkpoint["epoch"]),
        source=path,
    )
    return LoadedModel(model.eval(), info, config)


def _from_torchreid(path: Path) -> LoadedModel:
    variant, num_classes, feature_dim = infer_variant(load_torchreid_state_dict(path))
    model = load_osnet(path)
    info = ModelInfo(
        kind="torchreid",
        backbone=f"osnet_{variant}",
        pooling="avg",
        head="torchreid fc (linear+bn+relu)",
        embedding_dim=feature_dim,
        input_size=DEFAULT_INPUT_SIZE,
        num_classes=num_classes,
        epoch=None,
        source=path,
    )
    return LoadedModel(model.eval(), info, None)


def load_inference_model(path: Path) -> LoadedModel:
    """A checkpoint or `model_final.pt` from `reid train`, or a torchreid OSNet state dict."""
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    loaded = _try_load(path)
    if isinstance(loaded, dict) and loaded.get("format") == CHECKPOINT_FORMAT:
        return _from_checkpoint(path, loaded)
    return _from_torchreid(path)
