"""The bag-of-tricks losses: label-smoothed ID loss, batch-hard triplet, center loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 (the conventional alias)
from torch import Tensor, nn

from tracker_service.reid.training.config import LossConfig
from tracker_service.reid.training.models import TrainOutput


def pairwise_euclidean(features: Tensor) -> Tensor:
    """(N, N) Euclidean distances; clamped before the square root, whose gradient is
    infinite at 0 (every diagonal entry)."""
    squared = features.pow(2).sum(dim=1, keepdim=True)
    gram = features @ features.t()
    return (squared + squared.t() - 2.0 * gram).clamp(min=1e-12).sqrt()


def batch_hard_triplet_loss(features: Tensor, labels: Tensor, margin: float | None) -> Tensor:
    """Mean over anchors of [d(a, hardest positive) - d(a, hardest negative) + margin]_+.

    `margin=None` is the soft-margin variant, log(1 + exp(d_p - d_n)), which keeps pulling
    on triplets that a hard margin already considers satisfied (Hermans et al. 2017).
    Needs at least one other sample of the anchor's label and one of another label in the
    batch, which PK batches guarantee.
    """
    distances = pairwise_euclidean(features.float())
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    hardest_positive = distances.masked_fill(~same, float("-inf")).amax(dim=1)
    hardest_negative = distances.masked_fill(same, float("inf")).amin(dim=1)
    gap = hardest_positive - hardest_negative
    if margin is None:
        return F.softplus(gap).mean()
    return F.relu(gap + margin).mean()


class CenterLoss(nn.Module):
    """Mean squared distance of each feature to its class center (Wen et al. 2016).

    The centers are parameters with their own optimizer: the recipe updates them with
    plain SGD at a high rate, independent of the network's Adam.
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.centers = nn.Parameter(torch.randn(num_classes, dim))

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        differences = features.float() - self.centers[labels]
        return differences.pow(2).sum(dim=1).clamp(max=1e12).mean()


@dataclass(frozen=True)
class LossParts:
    """The weighted total to back-propagate and its parts (unweighted) for the log."""

    total: Tensor
    id_loss: Tensor
    triplet: Tensor
    center: Tensor
    accuracy: Tensor  # share of the batch whose identity the classifier gets right

    def as_floats(self) -> dict[str, float]:
        return {
            "loss": float(self.total.detach()),
            "id_loss": float(self.id_loss.detach()),
            "triplet_loss": float(self.triplet.detach()),
            "center_loss": float(self.center.detach()),
            "accuracy": float(self.accuracy),
        }


class ReidLoss(nn.Module):
    """ID loss on the logits + triplet (and center) on the pre-BN feature, weighted."""

    def __init__(self, config: LossConfig, num_classes: int, dim: int) -> None:
        super().__init__()
        self.config = config
        self.center_loss: CenterLoss | None = (
            CenterLoss(num_classes, dim) if config.center else None
        )

    def forward(self, output: TrainOutput, labels: Tensor) -> LossParts:
        config = self.config
        id_loss = F.cross_entropy(
            output.logits.float(), labels, label_smoothing=config.label_smoothing
        )
        margin = None if config.soft_margin else config.triplet_margin
        triplet = batch_hard_triplet_loss(output.features, labels, margin)
        total = config.id_weight * id_loss + config.triplet_weight * triplet
        center = torch.zeros((), device=labels.device)
        if self.center_loss is not None:
            center = self.center_loss(output.features, labels)
            total = total + config.center_weight * center
        with torch.no_grad():
            accuracy = (output.logits.argmax(dim=1) == labels).float().mean()
        return LossParts(total, id_loss, triplet, center, accuracy)
