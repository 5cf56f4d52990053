"""Re-ID networks: a backbone, global pooling, an optional reduction, and a BNNeck head.

    image -> backbone -> feature map -> pooling (avg | GeM) -> [reduction] -> f_t
          f_t -> BN (bias frozen) -> f_i -> classifier (no bias) -> identity logits

The batch-hard triplet loss (and the center loss) act on `f_t`, the ID loss on the logits;
inference returns `f_i`. Luo et al. (2019) found that the two losses pull the feature
towards different geometries (triplet: free Euclidean space, ID: separable on a
hypersphere) and that the BN between them lets both converge; the frozen BN bias keeps
`f_i` centred so cosine distances behave.

Backbones: ResNet50 with the last stride set to 1 (a 16x8 map instead of 8x4 for a 256x128
input: more spatial detail for almost no extra cost), OSNet x0.25/x1.0 in torchreid's
layout (the model-zoo weights load strictly), EfficientNet-b0. torchvision builds them
without weights; ImageNet weights come from a local file, never a download.

The optional reduction is torchreid's OSNet embedding layer (Linear + BN + ReLU) for every
backbone, so an OSNet checkpoint's pretrained 512-d `fc` initialises it when sizes agree.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from torch import Tensor, nn
from torchvision import models as tv_models

from tracker_service.model_store import ModelError
from tracker_service.reid.osnet import (
    OSNet,
    OSNetVariant,
    build_osnet,
    infer_variant,
    load_torchreid_state_dict,
)
from tracker_service.reid.training.config import BackboneName, ModelConfig

OSNET_VARIANTS: Mapping[BackboneName, OSNetVariant] = {
    "osnet_x0_25": "x0_25",
    "osnet_x1_0": "x1_0",
}


@dataclass(frozen=True)
class TrainOutput:
    """What the losses need from one forward pass."""

    features: Tensor  # f_t: pooled (and reduced) feature, before the BNNeck
    logits: Tensor  # identity logits from the post-BN feature


class GeM(nn.Module):
    """Generalised-mean pooling: (mean of x^p)^(1/p) per channel, p learned.

    p = 1 is average pooling and p -> inf max pooling; a learned p in between favours the
    strongest activations (Radenovic et al. 2018), which helps re-ID by about a point.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.full((1,), p))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x.clamp(min=self.eps).pow(self.p).mean(dim=(2, 3)).pow(1.0 / self.p)


class AvgPool(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3))


class OSNetFeatureMaps(nn.Module):
    """OSNet's convolutional part (conv1 .. conv5) with torchreid's module names."""

    def __init__(self, osnet: OSNet) -> None:
        super().__init__()
        self.conv1 = osnet.conv1
        self.maxpool = osnet.maxpool
        self.conv2 = osnet.conv2
        self.conv3 = osnet.conv3
        self.conv4 = osnet.conv4
        self.conv5 = osnet.conv5

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.conv1(x))
        return self.conv5(self.conv4(self.conv3(self.conv2(x))))  # type: ignore[no-any-return]


class ReidModel(nn.Module):
    """Backbone + pooling + optional reduction + BNNeck + classifier.

    `forward` returns the inference feature `f_i` (N, embedding_dim) in both modes, so the
    module exports as is; `train_forward` returns what the losses need.
    """

    def __init__(
        self,
        backbone: nn.Module,
        backbone_dim: int,
        pooling: nn.Module,
        reduction_dim: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.backbone = backbone
        self.pooling = pooling
        self.reduction: nn.Sequential | None = None
        self.embedding_dim = backbone_dim
        if reduction_dim > 0:
            self.reduction = nn.Sequential(
                nn.Linear(backbone_dim, reduction_dim),
                nn.BatchNorm1d(reduction_dim),
                nn.ReLU(inplace=True),
            )
            self.embedding_dim = reduction_dim
        self.bnneck = nn.BatchNorm1d(self.embedding_dim)
        # A frozen zero bias: the BNNeck only scales, so f_i stays centred for cosine.
        self.bnneck.bias.requires_grad_(False)
        self.classifier = nn.Linear(self.embedding_dim, num_classes, bias=False)
        self._init_head()

    def _init_head(self) -> None:
        # The recipe's initialisation: Kaiming for the reduction, a tiny-std classifier.
        if self.reduction is not None:
            linear = cast(nn.Linear, self.reduction[0])
            nn.init.kaiming_normal_(linear.weight, mode="fan_out")
            nn.init.zeros_(linear.bias)
        nn.init.ones_(self.bnneck.weight)
        nn.init.zeros_(self.bnneck.bias)
        nn.init.normal_(self.classifier.weight, std=0.001)

    @property
    def num_classes(self) -> int:
        return self.classifier.out_features

    def pooled_features(self, images: Tensor) -> Tensor:
        """f_t: the feature before the BNNeck."""
        pooled: Tensor = self.pooling(self.backbone(images))
        return pooled if self.reduction is None else self.reduction(pooled)

    def train_forward(self, images: Tensor) -> TrainOutput:
        features = self.pooled_features(images)
        return TrainOutput(features, self.classifier(self.bnneck(features)))

    def forward(self, images: Tensor) -> Tensor:
        return self.bnneck(self.pooled_features(images))  # type: ignore[no-any-return]


def _load_into(module: nn.Module, state_dict: Mapping[str, Tensor], path: Path) -> None:
    """Load strictly, with a ModelError naming what does not fit."""
    try:
        result = module.load_state_dict(dict(state_dict), strict=False)
    except RuntimeError as exc:  # shape mismatches
        first = str(exc).strip().splitlines()
        raise ModelError(f"{path} does not fit the backbone: {' '.join(first[:3])}") from None
    problems = [
        f"{len(keys)} {label} (e.g. {keys[0]})"
        for label, keys in (
            ("missing", result.missing_keys),
            ("unexpected", result.unexpected_keys),
        )
        if keys
    ]
    if problems:
        raise ModelError(f"{path} does not fit the backbone: {'; '.join(problems)}")


def _without(state_dict: Mapping[str, Tensor], prefixes: tuple[str, ...]) -> dict[str, Tensor]:
    return {key: value for key, value in state_dict.items() if not key.startswith(prefixes)}


def _resnet50(config: ModelConfig) -> tuple[nn.Module, int]:
    net = tv_models.resnet50(weights=None)
    if config.last_stride == 1:
        block = net.layer4[0]
        block.conv2.stride = (1, 1)
        block.downsample[0].stride = (1, 1)
    if config.pretrained is not None:
        weights = _without(load_torchreid_state_dict(config.pretrained), ("fc.",))
        net.fc = nn.Identity()  # the ImageNet classifier is not part of the re-ID network
        _load_into(net, weights, config.pretrained)
    names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
    trunk = nn.Sequential(OrderedDict((name, getattr(net, name)) for name in names))
    return trunk, 2048


def _efficientnet_b0(config: ModelConfig) -> tuple[nn.Module, int]:
    net = tv_models.efficientnet_b0(weights=None)
    if config.pretrained is not None:
        weights = _without(load_torchreid_state_dict(config.pretrained), ("classifier.",))
        features = {
            key.removeprefix("features."): value
            for key, value in weights.items()
            if key.startswith("features.")
        }
        _load_into(net.features, features, config.pretrained)
    return cast(nn.Module, net.features), 1280


def _osnet(config: ModelConfig, variant: OSNetVariant) -> tuple[nn.Module, int, OSNet]:
    if config.pretrained is None:
        osnet = build_osnet(variant, num_classes=1)
    else:
        weights = load_torchreid_state_dict(config.pretrained)
        found, num_classes, feature_dim = infer_variant(weights)
        if found != variant:
            raise ModelError(
                f"{config.pretrained} holds OSNet {found}, but the config asks for {variant}"
            )
        osnet = build_osnet(variant, num_classes, feature_dim)
        _load_into(osnet, weights, config.pretrained)
    trunk = OSNetFeatureMaps(osnet)
    return trunk, int(osnet.conv5.conv.out_channels), osnet


def build_model(config: ModelConfig, num_classes: int, load_pretrained: bool = True) -> ReidModel:
    """A ReidModel; `config.pretrained` is loaded only when `load_pretrained` (not when the
    weights will come from a checkpoint anyway). Raises ModelError for unusable weights."""
    if not load_pretrained:
        config = config.model_copy(update={"pretrained": None})
    pooling: nn.Module = GeM(config.gem_p) if config.pooling == "gem" else AvgPool()
    osnet: OSNet | None = None
    if config.backbone == "resnet50":
        trunk, dim = _resnet50(config)
    elif config.backbone == "efficientnet_b0":
        trunk, dim = _efficientnet_b0(config)
    else:
        trunk, dim, osnet = _osnet(config, OSNET_VARIANTS[config.backbone])
    model = ReidModel(trunk, dim, pooling, config.embedding_dim, num_classes)
    if osnet is not None and model.reduction is not None and config.pretrained is not None:
        _reuse_osnet_fc(model.reduction, osnet)
    return model


def _reuse_osnet_fc(reduction: nn.Module, osnet: OSNet) -> None:
    """Start the reduction from the checkpoint's trained embedding layer when it fits."""
    target = reduction.state_dict()
    source = osnet.fc.state_dict()
    if all(key in source and source[key].shape == value.shape for key, value in target.items()):
        reduction.load_state_dict(source)
