"""The training loop: PK batches, the recipe's losses and schedule, checkpoints, resume.

An output folder holds `config.yaml` (the resolved configuration), `train_log.jsonl`
(one JSON object per line: `"event": "iter"` every `log_every` iterations, `"epoch"`
with the epoch's mean losses, `"eval"` with CMC/mAP/mINP), `checkpoints/epoch_NNN.pt`
every `checkpoint_every` epochs and `model_final.pt` at the end. Mixed precision
(autocast + GradScaler) runs on CUDA only: on the CPU float16 autocast is slow or
unsupported and there is no speed to gain.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor
from torch.optim import SGD, Adam, Optimizer
from torch.utils.data import DataLoader
from tqdm import tqdm

from tracker_service.reid.training.checkpoint import read_checkpoint, save_checkpoint
from tracker_service.reid.training.config import TrainConfig
from tracker_service.reid.training.datasets import (
    DatasetError,
    ReidImageDataset,
    ReidSplits,
    TrainTransform,
    load_splits,
    train_labels,
)
from tracker_service.reid.training.evaluate import evaluate_model, torch_device
from tracker_service.reid.training.losses import LossParts, ReidLoss
from tracker_service.reid.training.models import ReidModel, build_model
from tracker_service.reid.training.sampler import PKBatchSampler
from tracker_service.reid.training.schedule import WarmupStepLR

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
LOG_FILE = "train_log.jsonl"
CHECKPOINT_DIR = "checkpoints"
FINAL_MODEL = "model_final.pt"


@dataclass(frozen=True)
class TrainResult:
    output_dir: Path
    epochs_completed: int
    final_model: Path
    log: Path
    metrics: dict[str, float | int] | None  # the last evaluation, when there was one


@dataclass
class Components:
    """Everything the loop updates, built once per run."""

    model: ReidModel
    criterion: ReidLoss
    optimizer: Optimizer
    center_optimizer: Optimizer | None
    scheduler: WarmupStepLR
    scaler: torch.amp.GradScaler
    sampler: PKBatchSampler
    loader: DataLoader[Any]
    device: torch.device
    use_amp: bool


class JsonLog:
    """Appends one JSON object per line (append: a resumed run continues the same log)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, record: Mapping[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(dict(record), separators=(",", ":")) + "\n")


def checkpoint_path(output_dir: Path, epoch: int) -> Path:
    return output_dir / CHECKPOINT_DIR / f"epoch_{epoch:03d}.pt"


def _optimizer(config: TrainConfig, model: ReidModel) -> Optimizer:
    settings = config.optimizer
    params = [param for param in model.parameters() if param.requires_grad]
    if settings.name == "adam":
        return Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    return SGD(
        params, lr=settings.lr, weight_decay=settings.weight_decay, momentum=settings.momentum
    )


def build_components(config: TrainConfig, splits: ReidSplits, device: torch.device) -> Components:
    """Model, losses, optimizers, schedule and the PK data loader for `splits.train`."""
    if not splits.train:
        raise DatasetError(f"{config.data.root} has no training images")
    labels, pids = train_labels(splits.train)
    model = build_model(config.model, num_classes=len(pids)).to(device)
    criterion = ReidLoss(config.loss, len(pids), model.embedding_dim).to(device)
    center_optimizer = (
        SGD(criterion.center_loss.parameters(), lr=config.loss.center_lr)
        if criterion.center_loss is not None
        else None
    )
    optimizer = _optimizer(config, model)
    scheduler = WarmupStepLR(optimizer, config.schedule, config.optimizer.lr)
    use_amp = config.run.amp and device.type == "cuda"
    try:
        sampler = PKBatchSampler(
            labels, config.sampler.identities, config.sampler.instances, seed=config.run.seed
        )
    except ValueError as exc:  # fewer identities than P: the data, not the code
        raise DatasetError(f"{config.data.root}: {exc}") from None
    dataset = ReidImageDataset(
        splits.train, TrainTransform(config.data.size, config.augment), labels
    )
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=config.data.workers,
        pin_memory=device.type == "cuda",
        persistent_workers=config.data.workers > 0,
    )
    return Components(
        model=model,
        criterion=criterion,
        optimizer=optimizer,
        center_optimizer=center_optimizer,
        scheduler=scheduler,
        scaler=torch.amp.GradScaler(device.type, enabled=use_amp),
        sampler=sampler,
        loader=loader,
        device=device,
        use_amp=use_amp,
    )


def checkpoint_payload(
    components: Components, config: TrainConfig, epoch: int, full: bool = True
) -> dict[str, Any]:
    """The checkpoint dict after `epoch` completed epochs (`full`: with resume state)."""
    payload: dict[str, Any] = {
        "epoch": epoch,
        "config": config.model_dump(mode="json"),
        "num_classes": components.model.num_classes,
        "model": components.model.state_dict(),
    }
    if full:
        center = components.criterion.center_loss
        payload |= {
            "optimizer": components.optimizer.state_dict(),
            "scheduler": components.scheduler.state_dict(),
            "center_loss": center.state_dict() if center is not None else None,
            "center_optimizer": (
                components.center_optimizer.state_dict()
                if components.center_optimizer is not None
                else None
            ),
            "scaler": components.scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }
    return payload


def restore(components: Components, checkpoint: Mapping[str, Any]) -> int:
    """Load a full checkpoint's state into `components`; returns the epochs completed."""
    components.model.load_state_dict(checkpoint["model"], strict=True)
    components.optimizer.load_state_dict(checkpoint["optimizer"])
    components.scheduler.load_state_dict(checkpoint["scheduler"])
    center = components.criterion.center_loss
    if center is not None and checkpoint.get("center_loss") is not None:
        center.load_state_dict(checkpoint["center_loss"])
    if components.center_optimizer is not None and checkpoint.get("center_optimizer"):
        components.center_optimizer.load_state_dict(checkpoint["center_optimizer"])
    if checkpoint.get("scaler"):
        components.scaler.load_state_dict(checkpoint["scaler"])
    torch.set_rng_state(checkpoint["torch_rng"])
    return int(checkpoint["epoch"])


def train_step(components: Components, images: Tensor, labels: Tensor) -> LossParts:
    """One optimisation step on one PK batch."""
    with torch.autocast(components.device.type, dtype=torch.float16, enabled=components.use_amp):
        parts: LossParts = components.criterion(components.model.train_forward(images), labels)
    components.optimizer.zero_grad(set_to_none=True)
    if components.center_optimizer is not None:
        components.center_optimizer.zero_grad(set_to_none=True)
    # torch.autograd.backward is the typed spelling of Tensor.backward.
    torch.autograd.backward(components.scaler.scale(parts.total))
    components.scaler.step(components.optimizer)
    center = components.criterion.center_loss
    if components.center_optimizer is not None and center is not None:
        components.scaler.unscale_(components.center_optimizer)
        # The total carries the center loss times its weight; the centers' own update
        # undoes the weight so they move at center_lr whatever the weight (the recipe's).
        for param in center.parameters():
            if param.grad is not None:
                param.grad.mul_(1.0 / components.criterion.config.center_weight)
        components.scaler.step(components.center_optimizer)
    components.scaler.update()
    return parts


def _iterations(components: Components, config: TrainConfig) -> int:
    available = len(components.sampler)
    limit = config.run.max_iters_per_epoch
    return available if limit is None else min(available, limit)


def train_epoch(
    components: Components, config: TrainConfig, epoch: int, log: JsonLog, progress: bool
) -> dict[str, float]:
    """One epoch (0-based `epoch`); returns the mean of each logged quantity."""
    components.model.train()
    components.sampler.set_epoch(epoch)
    total = _iterations(components, config)
    lr = components.optimizer.param_groups[0]["lr"]
    sums: dict[str, float] = {}
    bar = tqdm(
        total=total,
        desc=f"epoch {epoch + 1}/{config.schedule.epochs}",
        unit="it",
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
        file=sys.stderr,
    )
    done = 0
    with bar:
        for images, labels, _ in components.loader:
            device = components.device
            parts = train_step(components, images.to(device), labels.to(device))
            values = parts.as_floats()
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value
            done += 1
            bar.update(1)
            bar.set_postfix(loss=f"{values['loss']:.3f}", acc=f"{values['accuracy']:.2f}")
            if done % config.run.log_every == 0 or done == total:
                log.write({"event": "iter", "epoch": epoch + 1, "iter": done, "lr": lr, **values})
            if done == total:
                break  # max_iters_per_epoch: stop without loading another batch
    return {key: value / max(done, 1) for key, value in sums.items()} | {"iters": float(done)}


def _due(epoch_done: int, every: int, last: int) -> bool:
    return epoch_done == last or (every > 0 and epoch_done % every == 0)


def _prepare_output(output_dir: Path, config: TrainConfig) -> JsonLog:
    output_dir.mkdir(parents=True, exist_ok=True)
    dumped = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    (output_dir / CONFIG_FILE).write_text(dumped, encoding="utf-8")
    return JsonLog(output_dir / LOG_FILE)


def train(
    config: TrainConfig,
    output_dir: Path,
    *,
    resume: Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train per `config` into `output_dir`, from scratch or from a checkpoint."""
    splits = load_splits(config.data.format, config.data.root)
    device = torch_device(config.run.device)
    if config.run.threads > 0:
        # Process-wide; set explicitly because an earlier `import ultralytics` may have
        # pinned the default to one thread through OMP_NUM_THREADS.
        torch.set_num_threads(config.run.threads)
    if resume is None:
        torch.manual_seed(config.run.seed)
    components = build_components(config, splits, device)
    start = restore(components, read_checkpoint(resume)) if resume is not None else 0
    log = _prepare_output(output_dir, config)
    last = config.schedule.epochs
    logger.info(
        "training %s on %d images of %d identities, %s, epochs %d-%d",
        config.model.backbone,
        len(splits.train),
        components.model.num_classes,
        device,
        start + 1,
        last,
    )
    metrics: dict[str, float | int] | None = None
    for epoch in range(start, last):
        started = time.perf_counter()
        means = train_epoch(components, config, epoch, log, progress)
        components.scheduler.step()
        seconds = round(time.perf_counter() - started, 2)
        log.write({"event": "epoch", "epoch": epoch + 1, "seconds": seconds, **means})
        logger.info("epoch %d: loss %.4f (%.1f s)", epoch + 1, means.get("loss", 0.0), seconds)
        if _due(epoch + 1, config.run.checkpoint_every, last):
            save_checkpoint(
                checkpoint_path(output_dir, epoch + 1),
                checkpoint_payload(components, config, epoch + 1),
            )
        if splits.can_evaluate and _due(epoch + 1, config.run.eval_every, last):
            result = evaluate_model(
                components.model,
                splits,
                config.eval,
                config.data.size,
                device=device,
                workers=config.data.workers,
            )
            metrics = result.summary()
            log.write({"event": "eval", "epoch": epoch + 1, **metrics})
            logger.info("epoch %d: %s", epoch + 1, metrics)
    final = output_dir / FINAL_MODEL
    save_checkpoint(final, checkpoint_payload(components, config, max(start, last), full=False))
    return TrainResult(output_dir, max(start, last), final, log.path, metrics)
