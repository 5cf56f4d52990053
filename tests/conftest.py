"""Shared fixtures: where the real models, videos and MOT data live.

The assets are not part of the repository. `TRACKER_ASSETS` points at them (default:
`../shared/assets` next to the checkout); a test that needs a missing asset is skipped
with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.cluster.servers import MosquittoBroker, PostgresServer
    from tests.rtsp import RtspServer

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


def run_console_script(args: list[str], timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    """`tracker-service ARGS` as a user runs it: no TRACKER_* variables from this shell."""
    script = Path(sys.executable).parent / "tracker-service"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    return subprocess.run(
        [str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        check=False,
    )


@pytest.fixture(scope="session")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`tracker-service track` on the shared video with the shared models, run once.

    Returns the output folder (tracks.jsonl, mot.txt, annotated.mp4, summary.json, gallery/,
    and with the example zones, events.jsonl, snapshots/ and counts.json).
    Shared by the CLI end-to-end test and the API test that compares an uploaded job with it.
    """
    video = require_asset("videos/people-detection.mp4")
    detector = require_asset("models/yolov8n_int8_openvino_model")
    embedder = require_asset("models/osnet_x0_25_msmt17.onnx")
    out = tmp_path_factory.mktemp("cli-run")
    completed = run_console_script(
        [
            "track",
            str(video),
            "--out",
            str(out),
            "--detector",
            str(detector),
            "--embedder",
            str(embedder),
            "--zones",
            str(REPO_ROOT / "examples" / "people-detection-zones.yaml"),
            "--gt",
            str(REPO_ROOT / "benchmarks" / "ground_truth" / "people-detection"),
        ],
        timeout_s=900,
    )
    if completed.returncode != 0:
        pytest.fail(f"tracker-service track failed:\n{completed.stderr[-3000:]}")
    # What a user sees when the output is piped or logged (no terminal): kept beside the run.
    (out.parent / "cli-output.txt").write_text(completed.stdout + completed.stderr)
    return out


@pytest.fixture
def rtsp_camera(video_path: Path) -> Iterator[RtspServer]:
    """The shared video served as a looping RTSP camera on a free 127.0.0.1 port."""
    from tests.rtsp import RtspServer, rtsp_unavailable

    reason = rtsp_unavailable()
    if reason:
        pytest.skip(reason)
    server = RtspServer(video_path, loop=True)
    server.start()
    yield server
    server.close()


# --- real servers for the scale-out backends (started on first use, once a session) -------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    from tests.cluster.servers import PostgresServer, postgres_unavailable

    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def broker() -> Iterator[MosquittoBroker]:
    from tests.cluster.servers import MosquittoBroker, mosquitto_unavailable

    reason = mosquitto_unavailable()
    if reason:
        pytest.skip(reason)
    with MosquittoBroker() as server:
        yield server
