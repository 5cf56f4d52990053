"""The training configuration: the recipe's defaults, the shipped YAML files, strictness."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tracker_service.config import ConfigError
from tracker_service.reid.training.config import TrainConfig, load_train_config

CONFIGS = sorted((REPO_ROOT / "configs" / "reid").glob("*.yaml"))


def test_defaults_are_the_bag_of_tricks_recipe() -> None:
    config = TrainConfig()
    assert (config.data.height, config.data.width) == (256, 128)
    assert config.sampler.batch_size == 64 and config.sampler.identities == 16
    assert (config.optimizer.name, config.optimizer.lr, config.optimizer.weight_decay) == (
        "adam",
        3.5e-4,
        5e-4,
    )
    schedule = config.schedule
    assert (schedule.epochs, schedule.warmup_epochs, schedule.steps) == (120, 10, (40, 70))
    assert schedule.warmup_start_lr == 3.5e-5 and schedule.gamma == 0.1
    assert (config.loss.label_smoothing, config.loss.triplet_margin) == (0.1, 0.3)
    assert (config.loss.center_weight, config.loss.center_lr) == (0.0005, 0.5)
    assert (config.augment.erasing_p, config.augment.flip_p, config.augment.pad) == (0.5, 0.5, 10)
    assert config.model.last_stride == 1 and config.model.backbone == "resnet50"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_shipped_configs_load_and_say_how_to_use_them(path: Path) -> None:
    load_train_config(path)
    text = path.read_text()
    assert text.startswith("#") and "tracker-service reid train --config" in text


def test_the_recipe_file_spells_out_every_key() -> None:
    text = (REPO_ROOT / "configs" / "reid" / "bagtricks_r50.yaml").read_text()
    for section, values in TrainConfig().model_dump().items():
        assert f"\n{section}:" in text
        for key in values:
            assert f"\n  {key}:" in text, f"{section}.{key} is not in bagtricks_r50.yaml"


def test_the_shipped_recipe_files() -> None:
    names = {path.stem for path in CONFIGS}
    assert {"bagtricks_r50", "osnet_x0_25_finetune"} <= names
    recipe = load_train_config(REPO_ROOT / "configs" / "reid" / "bagtricks_r50.yaml")
    default = TrainConfig()
    assert recipe.model_dump(exclude={"run"}) == default.model_dump(exclude={"run"})
    finetune = load_train_config(REPO_ROOT / "configs" / "reid" / "osnet_x0_25_finetune.yaml")
    assert finetune.model.backbone == "osnet_x0_25" and finetune.data.format == "folder"


def test_unknown_keys_and_bad_values_fail(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  backbone: resnet50\n  pretrained_weights: x.pth\n")
    with pytest.raises(ConfigError, match=r"model\.pretrained_weights"):
        load_train_config(path)
    with pytest.raises(ConfigError, match="steps"):
        load_train_config(None, {"schedule": {"steps": [70, 40]}})
    with pytest.raises(ConfigError, match="backbone"):
        load_train_config(None, {"model": {"backbone": "vit"}})
