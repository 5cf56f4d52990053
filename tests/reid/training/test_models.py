"""Backbones, weights loading, pooling, BNNeck; the losses and the learning-rate schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision import models as tv_models

from tracker_service.model_store import ModelError
from tracker_service.reid.osnet import load_torchreid_state_dict
from tracker_service.reid.training.config import LossConfig, ModelConfig, ScheduleConfig
from tracker_service.reid.training.losses import (
    CenterLoss,
    ReidLoss,
    batch_hard_triplet_loss,
    pairwise_euclidean,
)
from tracker_service.reid.training.models import GeM, build_model
from tracker_service.reid.training.schedule import WarmupStepLR, lr_factor


@pytest.mark.parametrize("asset", ["msmt17_pth", "market1501_pth"])
def test_osnet_state_dicts_load_strictly_into_the_backbone(
    asset: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(asset)
    model = build_model(ModelConfig(backbone="osnet_x0_25", pretrained=path, embedding_dim=512), 7)
    weights = load_torchreid_state_dict(path)
    backbone = model.backbone.state_dict()
    # Every backbone tensor is the file's, and the trained fc seeds the reduction.
    assert all(torch.equal(value, weights[key]) for key, value in backbone.items())
    assert len(backbone) == sum(1 for key in weights if key.startswith("conv"))
    assert model.reduction is not None
    assert torch.equal(model.reduction[0].weight, weights["fc.0.weight"])
    assert torch.equal(model.reduction[1].running_var, weights["fc.1.running_var"])
    assert model.embedding_dim == 512 and model.num_classes == 7


def test_osnet_variant_mismatch_is_reported(msmt17_pth: Path) -> None:
    with pytest.raises(ModelError, match="holds OSNet x0_25"):
        build_model(ModelConfig(backbone="osnet_x1_0", pretrained=msmt17_pth), 3)


def test_resnet50_last_stride_one_and_imagenet_weights_from_a_file(tmp_path: Path) -> None:
    # A torchvision-format ImageNet state dict (random values: none can be downloaded here).
    reference = tv_models.resnet50(weights=None)
    path = tmp_path / "resnet50_imagenet.pth"
    torch.save(reference.state_dict(), path)
    model = build_model(ModelConfig(backbone="resnet50", pretrained=path), 5).eval()
    assert torch.equal(model.backbone.layer3[2].conv1.weight, reference.layer3[2].conv1.weight)
    with torch.inference_mode():
        maps = model.backbone(torch.zeros(1, 3, 256, 128))
        features = model(torch.zeros(2, 3, 256, 128))
    assert maps.shape == (1, 2048, 16, 8)  # stride 16, not 32
    assert features.shape == (2, 2048)
    stride_two = build_model(ModelConfig(backbone="resnet50", last_stride=2), 5).eval()
    with torch.inference_mode():
        assert stride_two.backbone(torch.zeros(1, 3, 256, 128)).shape == (1, 2048, 8, 4)


def test_wrong_weights_file_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "effnet.pth"
    torch.save(tv_models.efficientnet_b0(weights=None).state_dict(), path)
    with pytest.raises(ModelError, match="does not fit"):
        build_model(ModelConfig(backbone="resnet50", pretrained=path), 5)
    with pytest.raises(ModelError, match="not found"):
        build_model(ModelConfig(backbone="resnet50", pretrained=tmp_path / "nothing.pth"), 5)


def test_efficientnet_b0_with_weights_gem_and_reduction(tmp_path: Path) -> None:
    reference = tv_models.efficientnet_b0(weights=None)
    path = tmp_path / "efficientnet_b0.pth"
    torch.save(reference.state_dict(), path)
    config = ModelConfig(
        backbone="efficientnet_b0", pretrained=path, pooling="gem", embedding_dim=512
    )
    model = build_model(config, 4).train()
    assert torch.equal(
        model.backbone[1][0].block[0][0].weight, reference.features[1][0].block[0][0].weight
    )
    assert isinstance(model.pooling, GeM)
    output = model.train_forward(torch.randn(4, 3, 128, 64))
    assert output.features.shape == (4, 512) and output.logits.shape == (4, 4)


def test_bnneck_bias_is_frozen_and_inference_is_the_post_bn_feature() -> None:
    model = build_model(ModelConfig(backbone="osnet_x0_25"), 3).eval()
    assert not model.bnneck.bias.requires_grad
    assert model.classifier.bias is None
    images = torch.randn(2, 3, 128, 64)
    with torch.inference_mode():
        assert torch.equal(model(images), model.bnneck(model.pooled_features(images)))


def test_gem_between_average_and_max() -> None:
    maps = torch.rand(2, 3, 4, 4) + 0.01
    average, maximum = maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))
    torch.testing.assert_close(GeM(p=1.0)(maps), average)
    pooled = GeM(p=3.0)(maps)
    assert bool(((pooled >= average - 1e-6) & (pooled <= maximum + 1e-6)).all())


def test_batch_hard_triplet_by_hand() -> None:
    # 1-D features: labels a a b b at 0, 1, 3, 7.
    features = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    labels = torch.tensor([0, 0, 1, 1])
    torch.testing.assert_close(pairwise_euclidean(features)[0, 3], torch.tensor(7.0))
    # hardest positive / negative per anchor: (1, 3), (1, 2), (4, 2), (4, 6)
    gaps = torch.tensor([1 - 3, 1 - 2, 4 - 2, 4 - 6], dtype=torch.float32)
    expected = torch.relu(gaps + 0.3).mean()
    torch.testing.assert_close(batch_hard_triplet_loss(features, labels, 0.3), expected)
    soft = torch.nn.functional.softplus(gaps).mean()
    torch.testing.assert_close(batch_hard_triplet_loss(features, labels, None), soft)


def test_triplet_gradient_is_finite_with_duplicates() -> None:
    features = torch.zeros(4, 8, requires_grad=True)
    batch_hard_triplet_loss(features, torch.tensor([0, 0, 1, 1]), 0.3).backward()
    assert features.grad is not None and bool(torch.isfinite(features.grad).all())


def test_center_loss_and_combined_loss() -> None:
    center = CenterLoss(2, 3)
    with torch.no_grad():
        center.centers.copy_(torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    features = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 3.0]])
    torch.testing.assert_close(center(features, torch.tensor([0, 1])), torch.tensor(2.5))

    model = build_model(ModelConfig(backbone="osnet_x0_25"), 2).train()
    output = model.train_forward(torch.randn(4, 3, 64, 32))
    labels = torch.tensor([0, 0, 1, 1])
    config = LossConfig(center=True)
    parts = ReidLoss(config, 2, model.embedding_dim)(output, labels)
    expected = parts.id_loss + parts.triplet + config.center_weight * parts.center
    torch.testing.assert_close(parts.total, expected)
    # The classifier starts near zero: the smoothed ID loss starts near log(classes).
    assert abs(float(parts.id_loss.detach()) - float(torch.log(torch.tensor(2.0)))) < 0.05


def test_recipe_learning_rate_schedule() -> None:
    config = ScheduleConfig()
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=3.5e-4)
    scheduler = WarmupStepLR(optimizer, config, 3.5e-4)
    rates = []
    for _ in range(120):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(3.5e-5)
    assert rates[5] == pytest.approx(3.5e-5 + 0.5 * (3.5e-4 - 3.5e-5))
    assert rates[10] == pytest.approx(3.5e-4) and rates[39] == pytest.approx(3.5e-4)
    assert rates[40] == pytest.approx(3.5e-5) and rates[69] == pytest.approx(3.5e-5)
    assert rates[70] == pytest.approx(3.5e-6) and rates[119] == pytest.approx(3.5e-6)
    assert lr_factor(3, 0, 0.1, [2], 0.5) == 0.5
