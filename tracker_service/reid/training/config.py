"""Typed training configuration, read from YAML and validated before anything runs.

Defaults are the bag-of-tricks recipe for ResNet50 on Market-1501 (Luo et al. 2019, as
reproduced by FastReID's `bagtricks_R50`); `configs/reid/bagtricks_r50.yaml` spells them
out with a comment per key. Unknown keys are rejected, as in the service's configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from tracker_service.config import ConfigError, format_validation_error, merge_trees, read_yaml
from tracker_service.config_base import StrictModel

BackboneName = Literal["resnet50", "osnet_x0_25", "osnet_x1_0", "efficientnet_b0"]
DatasetFormat = Literal["market1501", "folder"]
Metric = Literal["cosine", "euclidean"]
QueryExpansion = Literal["none", "aqe", "average"]


class DataConfig(StrictModel):
    """Where the images are and how big the network sees them."""

    format: DatasetFormat = Field(
        "market1501", description="market1501 folders, or folder (root/<split>/<identity>/)"
    )
    root: Path = Field(Path("datasets/market1501"), description="dataset root folder")
    height: int = Field(256, ge=32, le=1024, description="network input height in pixels")
    width: int = Field(128, ge=16, le=1024, description="network input width in pixels")
    workers: int = Field(4, ge=0, le=64, description="DataLoader worker processes")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), the order the service's preprocessing takes."""
        return (self.width, self.height)


class SamplerConfig(StrictModel):
    """PK sampling: every batch holds P identities with K images each."""

    identities: int = Field(16, ge=2, description="P, identities per batch")
    instances: int = Field(4, ge=2, description="K, images per identity in a batch")

    @property
    def batch_size(self) -> int:
        return self.identities * self.instances


class AugmentConfig(StrictModel):
    """Training-time augmentation (test images are only resized and normalised)."""

    flip_p: float = Field(0.5, ge=0.0, le=1.0, description="horizontal flip probability")
    pad: int = Field(10, ge=0, le=64, description="zero padding before the random crop")
    erasing_p: float = Field(0.5, ge=0.0, le=1.0, description="random erasing probability")
    erasing_area: tuple[float, float] = Field(
        (0.02, 0.4), description="erased area as a fraction of the image (min, max)"
    )
    erasing_min_aspect: float = Field(
        0.3, gt=0.0, le=1.0, description="erased aspect ratio in [this, 1/this]"
    )

    @model_validator(mode="after")
    def _area_order(self) -> AugmentConfig:
        low, high = self.erasing_area
        if not 0.0 < low <= high < 1.0:
            raise ValueError("erasing_area must satisfy 0 < min <= max < 1")
        return self


class ModelConfig(StrictModel):
    """Backbone, pooling and head."""

    backbone: BackboneName = "resnet50"
    pretrained: Path | None = Field(
        None,
        description="initial weights: torchvision ImageNet state dict (resnet50, "
        "efficientnet_b0) or torchreid state dict (osnet_*); none = random init",
    )
    last_stride: Literal[1, 2] = Field(
        1, description="stride of the last ResNet stage (1 doubles the final feature map)"
    )
    pooling: Literal["avg", "gem"] = "avg"
    gem_p: float = Field(3.0, ge=1.0, le=10.0, description="initial GeM exponent (learned)")
    embedding_dim: int = Field(
        0, ge=0, le=4096, description="reduce the pooled feature to this size; 0 = no reduction"
    )


class LossConfig(StrictModel):
    """ID loss on the BNNeck classifier, triplet on the pre-BN feature, optional center."""

    id_weight: float = Field(1.0, ge=0.0)
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0, description="epsilon of the ID loss")
    triplet_weight: float = Field(1.0, ge=0.0)
    triplet_margin: float = Field(0.3, ge=0.0, description="margin of the batch-hard triplet")
    soft_margin: bool = Field(False, description="softplus instead of a fixed margin")
    center: bool = Field(False, description="add the center loss (own SGD optimizer)")
    center_weight: float = Field(0.0005, ge=0.0)
    center_lr: float = Field(0.5, gt=0.0, description="SGD learning rate of the centers")

    @model_validator(mode="after")
    def _some_loss(self) -> LossConfig:
        if self.id_weight == 0.0 and self.triplet_weight == 0.0:
            raise ValueError("id_weight and triplet_weight cannot both be 0")
        return self


class OptimizerConfig(StrictModel):
    name: Literal["adam", "sgd"] = "adam"
    lr: float = Field(3.5e-4, gt=0.0, description="base learning rate after warm-up")
    weight_decay: float = Field(5e-4, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD only")


class ScheduleConfig(StrictModel):
    """Linear warm-up, then the rate is multiplied by `gamma` at each step epoch."""

    epochs: int = Field(120, ge=1)
    warmup_epochs: int = Field(10, ge=0)
    warmup_start_lr: float = Field(3.5e-5, gt=0.0, description="learning rate at epoch 0")
    steps: tuple[int, ...] = Field((40, 70), description="epochs at which the rate drops")
    gamma: float = Field(0.1, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _steps_sorted(self) -> ScheduleConfig:
        if list(self.steps) != sorted(set(self.steps)):
            raise ValueError("steps must be strictly increasing")
        return self


class EvalConfig(StrictModel):
    """How features are extracted and ranked (training-time and `reid eval`)."""

    metric: Metric = "cosine"
    flip: bool = Field(False, description="average each image's and its mirror's features")
    rerank: bool = Field(False, description="k-reciprocal re-ranking (k1=20, k2=6, 0.3)")
    query_expansion: QueryExpansion = Field("none", description="aqe (alpha-QE) or average")
    batch_size: int = Field(128, ge=1)


class RunConfig(StrictModel):
    """Where and how the loop runs."""

    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda, cuda:N")
    amp: bool = Field(True, description="mixed precision on CUDA (always off on the CPU)")
    threads: int = Field(0, ge=0, description="PyTorch CPU threads; 0 = leave PyTorch's default")
    seed: int = 0
    checkpoint_every: int = Field(10, ge=1, description="epochs between checkpoints")
    eval_every: int = Field(
        0, ge=0, description="epochs between evaluations on query/gallery; 0 = at the end"
    )
    log_every: int = Field(20, ge=1, description="iterations between log lines")
    max_iters_per_epoch: int | None = Field(
        None, ge=1, description="cut epochs short (smoke tests); none = the sampler's length"
    )


class TrainConfig(StrictModel):
    data: DataConfig = DataConfig()
    sampler: SamplerConfig = SamplerConfig()
    augment: AugmentConfig = AugmentConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    eval: EvalConfig = EvalConfig()
    run: RunConfig = RunConfig()


def parse_train_config(tree: Mapping[str, Any], source: str = "training config") -> TrainConfig:
    """Validate a mapping (a checkpoint's stored config, or YAML); ConfigError if invalid."""
    try:
        return TrainConfig.model_validate(dict(tree))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_train_config(
    path: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> TrainConfig:
    """Defaults < YAML file < `overrides` (the command line), validated."""
    tree: dict[str, Any] = {} if path is None else read_yaml(path)
    tree = merge_trees(tree, overrides or {})
    return parse_train_config(tree, f"defaults < {path or 'no file'} < command line")
