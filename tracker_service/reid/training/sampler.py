"""PK sampling: batches of P identities with K images each.

The batch-hard triplet loss needs positives and negatives inside every batch, which random
batches of a thousand-identity dataset almost never contain; PK batches guarantee K-1
positives and (P-1)K negatives per anchor (Hermans et al. 2017, "In Defense of the Triplet
Loss"). This follows the bag-of-tricks `RandomIdentitySampler`: each identity's images are
shuffled and cut into groups of K (an identity with fewer than K images is drawn with
replacement to fill one group), then P identities with groups left are drawn per batch
until fewer than P remain. An epoch therefore sees nearly every image once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class PKBatchSampler(Sampler[list[int]]):
    """Yields lists of P*K dataset indices: P distinct labels, K indices of each.

    Deterministic for a given (seed, epoch); call `set_epoch` before each epoch so that
    epochs differ and a resumed run draws the batches an uninterrupted one would have.
    """

    def __init__(
        self, labels: Sequence[int], identities: int, instances: int, seed: int = 0
    ) -> None:
        if identities < 1 or instances < 1:
            raise ValueError("identities and instances per batch must be at least 1")
        by_label: defaultdict[int, list[int]] = defaultdict(list)
        for index, label in enumerate(labels):
            by_label[label].append(index)
        if len(by_label) < identities:
            raise ValueError(
                f"PK sampling needs at least P={identities} identities; the data has "
                f"{len(by_label)}"
            )
        self._by_label = dict(sorted(by_label.items()))
        self.identities = identities
        self.instances = instances
        self.seed = seed
        self.epoch = 0

    @property
    def batch_size(self) -> int:
        return self.identities * self.instances

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _groups(self, rng: np.random.Generator) -> dict[int, list[list[int]]]:
        """Each label's indices, shuffled, in groups of K (a short tail is dropped)."""
        k = self.instances
        groups: dict[int, list[list[int]]] = {}
        for label, indices in self._by_label.items():
            if len(indices) < k:
                drawn = rng.choice(indices, size=k, replace=True)
            else:
                drawn = rng.permutation(indices)
            usable = len(drawn) - len(drawn) % k
            groups[label] = [[int(i) for i in drawn[s : s + k]] for s in range(0, usable, k)]
        return groups

    def batches(self) -> list[list[int]]:
        """This epoch's batches, in order."""
        rng = np.random.default_rng((self.seed, self.epoch))
        groups = self._groups(rng)
        available = sorted(groups)
        result: list[list[int]] = []
        while len(available) >= self.identities:
            chosen = rng.choice(available, size=self.identities, replace=False)
            batch: list[int] = []
            for label in (int(value) for value in chosen):
                batch.extend(groups[label].pop())
                if not groups[label]:
                    available.remove(label)
            result.append(batch)
        return result

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return len(self.batches())
