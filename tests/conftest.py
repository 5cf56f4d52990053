"""Shared fixtures: where the real models, videos and MOT data live.

The assets are not part of the repository. `TRACKER_ASSETS` points at them (default:
`../shared/assets` next to the checkout); a test that needs a missing asset is skipped
with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def assets_root() -> Path:
    configured = os.environ.get("TRACKER_ASSETS")
    return Path(configured) if configured else (REPO_ROOT.parent / "shared" / "assets")


def require_asset(relative: str) -> Path:
    path = assets_root() / relative
    if not path.exists():
        pytest.skip(f"asset {relative} not found under {assets_root()} (set TRACKER_ASSETS)")
    return path


@pytest.fixture(scope="session")
def assets() -> Path:
    root = assets_root()
    if not root.is_dir():
        pytest.skip(f"assets folder {root} not found (set TRACKER_ASSETS)")
    return root


@pytest.fixture(scope="session")
def video_path() -> Path:
    return require_asset("videos/people-detection.mp4")


@pytest.fixture(scope="session")
def detector_path() -> Path:
    return require_asset("models/yolov8n_int8_openvino_model")


@pytest.fixture(scope="session")
def onnx_reid_path() -> Path:
    return require_asset("models/osnet_x0_25_msmt17.onnx")


@pytest.fixture(scope="session")
def mot15_root() -> Path:
    return require_asset("mot/MOT15")
