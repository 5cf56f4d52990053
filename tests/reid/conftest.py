"""Re-ID fixtures: each real embedder is loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from tests.conftest import require_asset
from tracker_service.reid.onnx_embedder import OnnxEmbedder
from tracker_service.reid.torch_embedder import TorchEmbedder

# Small enough that the contract tests' batches of 7 cross chunk boundaries.
TEST_MAX_BATCH = 4
# One thread: these tests check values, not speed, and on a busy 2-vCPU machine a second
# OpenMP thread that gets descheduled stalls every operator (seen here: seconds a crop).
TEST_THREADS = 1
MARKET_CROPS = ("0022", "0027", "0032", "0048", "0065")


@pytest.fixture(scope="session")
def msmt17_pth() -> Path:
    return require_asset("models/osnet_x0_25_msmt17.pth")


@pytest.fixture(scope="session")
def market1501_pth() -> Path:
    return require_asset("models/osnet_x0_25_market1501.pth")


@pytest.fixture(scope="session")
def onnx_embedder(onnx_reid_path: Path) -> OnnxEmbedder:
    return OnnxEmbedder(onnx_reid_path, "cpu", TEST_MAX_BATCH, TEST_THREADS)


@pytest.fixture(scope="session")
def torch_msmt17_embedder(msmt17_pth: Path) -> TorchEmbedder:
    return TorchEmbedder(msmt17_pth, "cpu", TEST_MAX_BATCH, TEST_THREADS)


@pytest.fixture(scope="session")
def torch_market1501_embedder(market1501_pth: Path) -> TorchEmbedder:
    return TorchEmbedder(market1501_pth, "cpu", TEST_MAX_BATCH, TEST_THREADS)


@pytest.fixture(params=["onnx", "torch_msmt17", "torch_market1501"])
def embedder(request: pytest.FixtureRequest) -> OnnxEmbedder | TorchEmbedder:
    """Every real backend and weight file: contract tests run against each."""
    loaded: OnnxEmbedder | TorchEmbedder = request.getfixturevalue(f"{request.param}_embedder")
    return loaded


@pytest.fixture(scope="session")
def market_crops() -> list[NDArray[np.uint8]]:
    """One Market-1501 crop (64x128, BGR) per identity."""
    folder = require_asset("reid")
    crops = []
    for identity in MARKET_CROPS:
        (path,) = sorted(folder.glob(f"{identity}_*.jpg"))
        image = cv2.imread(str(path))
        if image is None:
            pytest.fail(f"cannot decode {path}")
        crops.append(np.asarray(image, dtype=np.uint8))
    return crops
