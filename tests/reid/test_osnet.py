"""The OSNet layout against the torchreid model-zoo state dicts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tracker_service.model_store import ModelError
from tracker_service.reid.osnet import (
    build_osnet,
    infer_variant,
    load_osnet,
    load_torchreid_state_dict,
)


@pytest.mark.parametrize(
    ("asset", "num_classes"),
    [("msmt17_pth", 1041), ("market1501_pth", 751)],
)
def test_model_zoo_weights_load_strictly(
    asset: str, num_classes: int, request: pytest.FixtureRequest
) -> None:
    state_dict = load_torchreid_state_dict(request.getfixturevalue(asset))
    model = build_osnet("x0_25", num_classes)
    result = model.load_state_dict(state_dict, strict=True)
    assert not result.missing_keys
    assert not result.unexpected_keys
    assert infer_variant(state_dict) == ("x0_25", num_classes, 512)


def test_wrapped_checkpoint_with_dataparallel_prefix(msmt17_pth: Path, tmp_path: Path) -> None:
    plain = load_torchreid_state_dict(msmt17_pth)
    wrapped = {"state_dict": {f"module.{k}": v for k, v in plain.items()}, "epoch": 60}
    path = tmp_path / "checkpoint.pth.tar"
    torch.save(wrapped, path)
    loaded = load_torchreid_state_dict(path)
    assert loaded.keys() == plain.keys()
    assert all(torch.equal(loaded[key], plain[key]) for key in plain)


def test_eval_forward_is_the_512d_feature_and_the_head_is_separate() -> None:
    model = build_osnet("x0_25", num_classes=10).eval()
    images = torch.randn(2, 3, 256, 128)
    with torch.inference_mode():
        features = model(images)
        assert features.shape == (2, 512)
        assert torch.equal(features, model.features(model.featuremaps(images)))
        assert model.classifier(features).shape == (2, 10)


def test_x1_0_layout_builds_and_trains_a_step() -> None:
    model = build_osnet("x1_0", num_classes=4).train()
    logits = model.classifier(model(torch.randn(2, 3, 64, 32)))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3])).backward()
    assert model.conv1.conv.weight.shape == (64, 3, 7, 7)
    assert model.conv1.conv.weight.grad is not None


def test_unknown_variant_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown OSNet variant"):
        build_osnet("x2_0", 10)  # type: ignore[arg-type]


def test_a_state_dict_that_does_not_fit_names_the_keys(msmt17_pth: Path, tmp_path: Path) -> None:
    state_dict = load_torchreid_state_dict(msmt17_pth)
    del state_dict["conv5.conv.weight"]
    state_dict["head.extra"] = torch.zeros(1)
    state_dict["conv3.0.gate.fc1.bias"] = torch.zeros(7)
    path = tmp_path / "broken.pth"
    torch.save(state_dict, path)
    with pytest.raises(ModelError) as error:
        load_osnet(path)
    message = str(error.value)
    assert "1 missing: conv5.conv.weight" in message
    assert "1 unexpected: head.extra" in message
    assert "1 mis-shaped: conv3.0.gate.fc1.bias (7,) in the file, (1,) in the model" in message


def test_a_pickled_module_is_refused_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "whole_model.pth"
    torch.save(build_osnet("x0_25", 3), path)
    with pytest.raises(ModelError, match="weights_only=True"):
        load_torchreid_state_dict(path)


def test_non_osnet_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(ModelError, match="not an OSNet state dict"):
        load_osnet(path)
