"""Feature extraction and query/gallery evaluation of a re-ID model.

Images go through exactly the service's preprocessing (`reid.preprocess`), so the numbers
describe the embeddings the deployed embedder will produce. Options (`EvalConfig`):

- flip: each image's feature is the mean of the features of the image and its mirror.
- query expansion: alpha-QE (alpha 3) or average QE over the top 5 gallery matches (see
  `metrics.query_expansion`); it works on unit-norm features, so with it on both query
  and gallery features are normalised before the distance.
- re-ranking: k-reciprocal (k1 20, k2 6, lambda 0.3; `rerank.py`), fed cosine distances
  or squared Euclidean distances as in the paper.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.utils.data import DataLoader

from tracker_service.reid.base import parse_device
from tracker_service.reid.training.config import EvalConfig
from tracker_service.reid.training.datasets import (
    EvalTransform,
    ReidImageDataset,
    ReidSample,
    ReidSplits,
)
from tracker_service.reid.training.metrics import (
    FloatMatrix,
    RankingMetrics,
    distance_matrix,
    evaluate_ranking,
    normalise_rows,
    query_expansion,
)
from tracker_service.reid.training.rerank import k_reciprocal_rerank

logger = logging.getLogger(__name__)

QE_TOP_K = 5
AQE_ALPHA = 3.0  # FastReID's default; 0 gives average QE


def torch_device(spec: str) -> torch.device:
    """auto/cpu/cuda/cuda:N as a torch device; auto and cuda fall back to the CPU."""
    kind, index = parse_device(spec)
    if kind != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", index)
    if kind == "cuda":
        logger.warning("device %s requested but CUDA is not available; using the CPU", spec)
    return torch.device("cpu")


def extract_features(
    model: nn.Module,
    samples: Sequence[ReidSample],
    size: tuple[int, int],
    *,
    device: torch.device,
    batch_size: int = 128,
    flip: bool = False,
    workers: int = 0,
) -> FloatMatrix:
    """(len(samples), D) float32 features, in sample order (not normalised)."""
    loader = DataLoader(
        ReidImageDataset(samples, EvalTransform(size)),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    was_training = model.training
    model.eval()
    outputs = []
    with torch.inference_mode():
        for batch, _, _ in loader:
            images = batch.to(device, non_blocking=True)
            features = model(images)
            if flip:
                features = (features + model(images.flip(dims=[3]))) / 2.0
            outputs.append(features.float().cpu())
    model.train(was_training)
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    matrix: FloatMatrix = torch.cat(outputs).numpy().astype(np.float32, copy=False)
    return matrix


def rank_distances(query: FloatMatrix, gallery: FloatMatrix, config: EvalConfig) -> FloatMatrix:
    """The (num_query, num_gallery) distances the ranking uses, with QE and re-ranking."""
    if config.query_expansion != "none":
        alpha = AQE_ALPHA if config.query_expansion == "aqe" else 0.0
        query = query_expansion(query, gallery, QE_TOP_K, alpha)
        gallery = normalise_rows(gallery)
    query_gallery = distance_matrix(query, gallery, config.metric)
    if not config.rerank:
        return query_gallery
    query_query = distance_matrix(query, query, config.metric)
    gallery_gallery = distance_matrix(gallery, gallery, config.metric)
    if config.metric == "euclidean":
        # The paper's original distance is squared (Mahalanobis with the identity).
        query_gallery, query_query, gallery_gallery = (
            np.square(matrix) for matrix in (query_gallery, query_query, gallery_gallery)
        )
    return k_reciprocal_rerank(query_gallery, query_query, gallery_gallery)


def _ids(samples: Sequence[ReidSample]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    pids = np.array([sample.pid for sample in samples], dtype=np.int64)
    cams = np.array([sample.camid for sample in samples], dtype=np.int64)
    return pids, cams


def evaluate_model(
    model: nn.Module,
    splits: ReidSplits,
    config: EvalConfig,
    size: tuple[int, int],
    *,
    device: torch.device,
    workers: int = 0,
) -> RankingMetrics:
    """CMC/mAP/mINP of `model` on `splits.query` against `splits.gallery`."""
    if not splits.can_evaluate:
        raise ValueError("the dataset has no query or no gallery images to evaluate on")
    features = [
        extract_features(
            model,
            samples,
            size,
            device=device,
            batch_size=config.batch_size,
            flip=config.flip,
            workers=workers,
        )
        for samples in (splits.query, splits.gallery)
    ]
    distances = rank_distances(features[0], features[1], config)
    query_pids, query_cams = _ids(splits.query)
    gallery_pids, gallery_cams = _ids(splits.gallery)
    return evaluate_ranking(distances, query_pids, gallery_pids, query_cams, gallery_cams)
