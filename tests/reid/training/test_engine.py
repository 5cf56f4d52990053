"""Training on a tiny real dataset: the loss falls, checkpoints resume exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.reid.training.conftest import TEST_HEIGHT, TEST_WIDTH, tiny_config
from tracker_service.reid.training.checkpoint import load_inference_model, read_checkpoint
from tracker_service.reid.training.datasets import load_splits
from tracker_service.reid.training.engine import (
    FINAL_MODEL,
    build_components,
    checkpoint_path,
    restore,
    train,
)
from tracker_service.reid.training.evaluate import torch_device


def log_records(path: Path, event: str) -> list[dict[str, float]]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [record for record in records if record["event"] == event]


def test_loss_falls_on_real_crops(mot_reid_root: Path, msmt17_pth: Path, tmp_path: Path) -> None:
    """OSNet x0.25 (MSMT17 weights) on 22 MOT17 people: 3 epochs of 8 PK batches."""
    config = tiny_config(mot_reid_root, msmt17_pth, schedule={"epochs": 3})
    result = train(config, tmp_path / "run", progress=False)

    epochs = log_records(result.log, "epoch")
    losses = [record["loss"] for record in epochs]
    assert len(epochs) == 3 and all(record["iters"] == 8 for record in epochs)
    assert losses[2] < losses[1] < losses[0]
    assert losses[2] < 0.85 * losses[0]
    assert epochs[2]["id_loss"] < epochs[0]["id_loss"]
    assert epochs[2]["accuracy"] > epochs[0]["accuracy"]
    iterations = log_records(result.log, "iter")
    assert len(iterations) == 24 and all(
        record["lr"] == pytest.approx(3.5e-4) for record in iterations
    )
    # Evaluated at the end on the held-out people (frame 1 vs frames 5-8).
    assert result.metrics is not None and result.metrics["queries"] >= 5
    assert result.metrics["rank1"] >= 80.0
    assert log_records(result.log, "eval")[0]["mAP"] == result.metrics["mAP"]
    assert (tmp_path / "run" / "config.yaml").is_file()
    assert checkpoint_path(tmp_path / "run", 3).is_file()

    loaded = load_inference_model(result.final_model)
    assert loaded.info.input_size == (TEST_WIDTH, TEST_HEIGHT)
    assert loaded.info.embedding_dim == 512 and loaded.info.epoch == 3


def test_resume_restores_the_state_and_continues_exactly(
    mot_reid_root: Path, msmt17_pth: Path, tmp_path: Path
) -> None:
    config = tiny_config(
        mot_reid_root,
        msmt17_pth,
        schedule={"epochs": 2, "warmup_epochs": 2},  # the rate changes at each epoch
        run={"max_iters_per_epoch": 2},
        loss={"center": True},
    )
    straight = train(config, tmp_path / "straight", progress=False)
    first = checkpoint_path(tmp_path / "straight", 1)

    # The restored components hold exactly the checkpoint's state.
    checkpoint = read_checkpoint(first)
    components = build_components(config, load_splits("folder", mot_reid_root), torch_device("cpu"))
    assert restore(components, checkpoint) == 1
    assert components.scheduler.last_epoch == 1
    assert components.optimizer.param_groups[0]["lr"] == pytest.approx(
        components.scheduler.factor(1) * 3.5e-4
    )
    model_state = components.model.state_dict()
    assert all(torch.equal(model_state[k], v) for k, v in checkpoint["model"].items())
    adam = components.optimizer.state_dict()["state"]
    assert all(float(state["step"]) == 2 for state in adam.values())
    assert components.criterion.center_loss is not None
    assert torch.equal(
        components.criterion.center_loss.centers, checkpoint["center_loss"]["centers"]
    )

    # Resuming from epoch 1 ends where the uninterrupted run ended, bit for bit.
    resumed = train(config, tmp_path / "resumed", resume=first, progress=False)
    assert resumed.epochs_completed == 2
    expected = read_checkpoint(straight.final_model)["model"]
    actual = read_checkpoint(tmp_path / "resumed" / FINAL_MODEL)["model"]
    assert all(torch.equal(actual[key], expected[key]) for key in expected)
    assert [r["epoch"] for r in log_records(resumed.log, "epoch")] == [2]
