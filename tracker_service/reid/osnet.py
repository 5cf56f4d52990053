"""OSNet (Omni-Scale Network) for person re-ID, in torchreid's module layout.

Zhou et al., "Omni-Scale Feature Learning for Person Re-Identification", ICCV 2019. Module
and parameter names follow torchreid's `osnet_x*` models exactly (`conv1.conv.weight`,
`conv2.0.conv2b.1.bn.running_mean`, `fc.0.weight`, `classifier.weight`, ...), so the
torchreid model-zoo state dicts load with `strict=True` and the layout can be exported
to the same ONNX graph as torchreid's.

The network is split into parts a trainer can recombine: `featuremaps` (the convolutional
backbone), `features` (global pooling + the 512-d fc embedding), and `classifier` (the
identity head, used only for training). `forward` returns the embedding.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F  # noqa: N812 (the conventional alias)
from torch import Tensor, nn

from tracker_service.model_store import ModelError

OSNetVariant = Literal["x0_25", "x0_5", "x0_75", "x1_0"]


class _VariantSpec(NamedTuple):
    channels: tuple[int, int, int, int]  # conv1, conv2, conv3, conv4 output channels
    layers: tuple[int, int, int]  # OSBlocks in conv2, conv3, conv4


# The widths torchreid ships; every variant stacks two OSBlocks per stage.
VARIANTS: Mapping[OSNetVariant, _VariantSpec] = {
    "x1_0": _VariantSpec((64, 256, 384, 512), (2, 2, 2)),
    "x0_75": _VariantSpec((48, 192, 288, 384), (2, 2, 2)),
    "x0_5": _VariantSpec((32, 128, 192, 256), (2, 2, 2)),
    "x0_25": _VariantSpec((16, 64, 96, 128), (2, 2, 2)),
}


class ConvLayer(nn.Module):
    """k x k convolution + BN + ReLU (the 7x7 stem)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))  # type: ignore[no-any-return]


class Conv1x1(nn.Module):
    """1x1 convolution + BN + ReLU."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))  # type: ignore[no-any-return]


class Conv1x1Linear(nn.Module):
    """1x1 convolution + BN, no activation (block outputs and residual projections)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))  # type: ignore[no-any-return]


class LightConv3x3(nn.Module):
    """Pointwise 1x1 (linear) then depthwise 3x3, BN, ReLU: OSNet's cheap 3x3."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False, groups=out_ch)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv2(self.conv1(x))))  # type: ignore[no-any-return]


class ChannelGate(nn.Module):
    """Channel-wise sigmoid gates from a squeeze-excitation style mini-network.

    One gate is shared by all four streams of an OSBlock: that sharing is what lets the
    block weigh its receptive-field scales per channel ("unified aggregation gate").
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=True)
        self.gate_activation = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        gates = self.fc2(self.relu(self.fc1(self.global_avgpool(x))))
        return x * self.gate_activation(gates)  # type: ignore[no-any-return]


def _stream(channels: int, depth: int) -> nn.Sequential:
    return nn.Sequential(*(LightConv3x3(channels, channels) for _ in range(depth)))


class OSBlock(nn.Module):
    """Omni-scale residual bottleneck: four streams of 1-4 stacked LightConv3x3."""

    def __init__(self, in_ch: int, out_ch: int, bottleneck_reduction: int = 4) -> None:
        super().__init__()
        mid = out_ch // bottleneck_reduction
        self.conv1 = Conv1x1(in_ch, mid)
        # torchreid names the single-layer stream without a Sequential; keep it that way.
        self.conv2a = LightConv3x3(mid, mid)
        self.conv2b = _stream(mid, 2)
        self.conv2c = _stream(mid, 3)
        self.conv2d = _stream(mid, 4)
        self.gate = ChannelGate(mid)
        self.conv3 = Conv1x1Linear(mid, out_ch)
        self.downsample = Conv1x1Linear(in_ch, out_ch) if in_ch != out_ch else None

    def forward(self, x: Tensor) -> Tensor:
        squeezed = self.conv1(x)
        fused = (
            self.gate(self.conv2a(squeezed))
            + self.gate(self.conv2b(squeezed))
            + self.gate(self.conv2c(squeezed))
            + self.gate(self.conv2d(squeezed))
        )
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(self.conv3(fused) + identity)


def _stage(in_ch: int, out_ch: int, blocks: int, reduce_spatial_size: bool) -> nn.Sequential:
    layers: list[nn.Module] = [OSBlock(in_ch, out_ch)]
    layers += [OSBlock(out_ch, out_ch) for _ in range(1, blocks)]
    if reduce_spatial_size:
        # The transition: 1x1 conv then 2x2 average pooling (indices conv{2,3}.2.{0,1}).
        layers.append(nn.Sequential(Conv1x1(out_ch, out_ch), nn.AvgPool2d(2, stride=2)))
    return nn.Sequential(*layers)


class OSNet(nn.Module):
    """OSNet backbone, 512-d embedding head and identity classifier.

    `forward(x)` returns the embedding (after fc + BN + ReLU, not L2-normalised) in both
    train and eval mode, so it has one return type; a training loop computes identity
    logits with `model.classifier(embedding)` (or inserts a BNNeck in between). torchreid
    instead returns logits in train mode; in eval mode the two agree.
    """

    def __init__(self, spec: _VariantSpec, num_classes: int, feature_dim: int = 512) -> None:
        super().__init__()
        c0, c1, c2, c3 = spec.channels
        self.conv1 = ConvLayer(3, c0, 7, stride=2, padding=3)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = _stage(c0, c1, spec.layers[0], reduce_spatial_size=True)
        self.conv3 = _stage(c1, c2, spec.layers[1], reduce_spatial_size=True)
        self.conv4 = _stage(c2, c3, spec.layers[2], reduce_spatial_size=False)
        self.conv5 = Conv1x1(c3, c3)
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(c3, feature_dim), nn.BatchNorm1d(feature_dim), nn.ReLU(inplace=True)
        )
        self.classifier = nn.Linear(feature_dim, num_classes)
        self.feature_dim = feature_dim
        self._init_params()

    def _init_params(self) -> None:
        # torchreid's initialisation, so training from scratch behaves like upstream.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def featuremaps(self, x: Tensor) -> Tensor:
        """(N, 3, H, W) normalised images -> (N, C, H/16, W/16) feature maps."""
        x = self.maxpool(self.conv1(x))
        return self.conv5(self.conv4(self.conv3(self.conv2(x))))  # type: ignore[no-any-return]

    def features(self, featuremaps: Tensor) -> Tensor:
        """Feature maps -> (N, feature_dim) embeddings."""
        pooled = torch.flatten(self.global_avgpool(featuremaps), 1)
        return self.fc(pooled)  # type: ignore[no-any-return]

    def forward(self, x: Tensor) -> Tensor:
        return self.features(self.featuremaps(x))


def build_osnet(variant: OSNetVariant, num_classes: int, feature_dim: int = 512) -> OSNet:
    """An untrained OSNet of torchreid's `osnet_<variant>` layout."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown OSNet variant {variant!r}; known: {', '.join(VARIANTS)}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    return OSNet(VARIANTS[variant], num_classes, feature_dim)


def load_torchreid_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a torchreid checkpoint as a plain state dict, on the CPU.

    Accepts a bare state dict or torchreid's training checkpoint (`{"state_dict": ...,
    "epoch": ...}`), and strips the `module.` prefix that DataParallel adds. Loads with
    `weights_only=True`: the model-zoo files (old serialisation included) load that way,
    and a full unpickler would run arbitrary code from a model file. Raises ModelError.
    """
    path = Path(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"re-ID weights not found: {path}") from None
    except Exception as exc:  # torch raises many types for a bad file; all mean the same
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{path} is not a loadable PyTorch state dict (torch.load with weights_only=True "
            f"failed: {first_line})"
        ) from None
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not all(
        isinstance(key, str) and isinstance(value, Tensor) for key, value in loaded.items()
    ):
        raise ModelError(f"{path} does not hold a state dict of tensors")
    return {key.removeprefix("module."): value for key, value in loaded.items()}


def infer_variant(state_dict: Mapping[str, Tensor]) -> tuple[OSNetVariant, int, int]:
    """(variant, num_classes, feature_dim) of a torchreid OSNet state dict, from its shapes."""
    try:
        stem_width = state_dict["conv1.conv.weight"].shape[0]
        num_classes, feature_dim = state_dict["classifier.weight"].shape
    except (KeyError, IndexError, ValueError):
        raise ModelError(
            "not an OSNet state dict: conv1.conv.weight or a 2-D classifier.weight is missing"
        ) from None
    for name, spec in VARIANTS.items():
        if spec.channels[0] == stem_width:
            return name, int(num_classes), int(feature_dim)
    raise ModelError(
        f"no OSNet variant has a stem of {stem_width} channels "
        f"(known: {', '.join(f'{n}={s.channels[0]}' for n, s in VARIANTS.items())})"
    )


def _describe_mismatch(model: nn.Module, state_dict: Mapping[str, Tensor]) -> str:
    expected = model.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    wrong_shape = [
        f"{key} {tuple(state_dict[key].shape)} in the file, {tuple(value.shape)} in the model"
        for key, value in expected.items()
        if key in state_dict and state_dict[key].shape != value.shape
    ]
    parts = []
    for label, items in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("mis-shaped", wrong_shape),
    ):
        if items:
            shown = ", ".join(items[:3]) + (f" (+{len(items) - 3} more)" if len(items) > 3 else "")
            parts.append(f"{len(items)} {label}: {shown}")
    return "; ".join(parts)


def load_osnet(path: str | Path) -> OSNet:
    """An OSNet in eval mode with a torchreid checkpoint loaded strictly (layout inferred)."""
    state_dict = load_torchreid_state_dict(path)
    variant, num_classes, feature_dim = infer_variant(state_dict)
    model = build_osnet(variant, num_classes, feature_dim)
    problems = _describe_mismatch(model, state_dict)
    if problems:
        raise ModelError(f"{path} does not fit OSNet {variant}: {problems}")
    model.load_state_dict(state_dict, strict=True)
    return model.eval()
