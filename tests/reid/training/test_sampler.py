"""PK sampler properties."""

from __future__ import annotations

from collections import Counter

import pytest

from tracker_service.reid.training.sampler import PKBatchSampler

# 10 identities with 2 to 11 images each.
LABELS = [label for label in range(10) for _ in range(label + 2)]


def test_every_batch_has_p_identities_with_k_images_each() -> None:
    sampler = PKBatchSampler(LABELS, identities=4, instances=3, seed=1)
    batches = list(sampler)
    assert batches
    for batch in batches:
        counts = Counter(LABELS[index] for index in batch)
        assert len(batch) == 12
        assert len(counts) == 4
        assert set(counts.values()) == {3}


def test_identities_with_enough_images_are_not_repeated_within_an_epoch() -> None:
    sampler = PKBatchSampler(LABELS, identities=4, instances=3, seed=1)
    drawn = [index for batch in sampler for index in batch]
    rich = {index for index, label in enumerate(LABELS) if LABELS.count(label) >= 3}
    seen_rich = [index for index in drawn if index in rich]
    assert len(seen_rich) == len(set(seen_rich))


def test_small_identities_are_filled_with_replacement() -> None:
    labels = [0, 0, 1, 1, 1, 1, 2, 2, 2, 2]  # identity 0 has 2 < K images
    sampler = PKBatchSampler(labels, identities=2, instances=4, seed=0)
    for epoch in range(5):
        sampler.set_epoch(epoch)
        for batch in sampler:
            for label, count in Counter(labels[i] for i in batch).items():
                assert count == 4
                if label == 0:
                    assert set(batch) & {0, 1}


def test_deterministic_per_epoch_and_different_across_epochs() -> None:
    first = PKBatchSampler(LABELS, 4, 2, seed=7)
    second = PKBatchSampler(LABELS, 4, 2, seed=7)
    assert list(first) == list(second)
    first.set_epoch(1)
    assert list(first) != list(second)
    second.set_epoch(1)
    assert list(first) == list(second)
    assert len(first) == len(list(first))


def test_an_epoch_covers_most_images() -> None:
    sampler = PKBatchSampler(LABELS, identities=2, instances=2, seed=0)
    drawn = {index for batch in sampler for index in batch}
    assert len(drawn) >= 0.75 * len(LABELS)


def test_needs_p_identities() -> None:
    with pytest.raises(ValueError, match="P=4"):
        PKBatchSampler([0, 0, 1, 1, 2, 2], identities=4, instances=2)
