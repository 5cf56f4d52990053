"""Start the real service (`tracker-service serve`) in a subprocess on 127.0.0.1 for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.conftest import require_asset

CONSOLE_SCRIPT = Path(sys.executable).parent / "tracker-service"
READY_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def model_env() -> dict[str, str]:
    """The shared detector and re-ID model, as a deployment would set them."""
    return {
        "TRACKER_DETECTOR": str(require_asset("models/yolov8n_int8_openvino_model")),
        "TRACKER_EMBEDDER": str(require_asset("models/osnet_x0_25_msmt17.onnx")),
    }


class ServiceProcess:
    """`tracker-service serve` with its own data dir; `url` once `/readyz` says ready."""

    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"service-{self.port}.log"
        self._env = {
            **os.environ,
            **model_env(),
            "TRACKER_DATA_DIR": str(data_dir),
            "OMP_NUM_THREADS": "1",
            **(env or {}),
        }
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, wait_ready: bool = True) -> ServiceProcess:
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [str(CONSOLE_SCRIPT), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if wait_ready:
            self.wait(ready=True)
        return self

    def wait(self, ready: bool, timeout_s: float = READY_TIMEOUT_S) -> httpx.Response:
        """Poll until the service answers (and, with `ready`, until /readyz is 200)."""
        deadline = time.monotonic() + timeout_s
        last: httpx.Response | None = None
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"service exited early:\n{self.log()}")
            try:
                last = httpx.get(f"{self.url}/readyz", timeout=2.0)
                if not ready or last.status_code == 200:
                    return last
                if last.json().get("status") == "failed":
                    return last
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"service not ready in {timeout_s} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 30.0) -> int | None:
        if self._process is None:
            return None
        self._process.send_signal(signal.SIGINT)
        try:
            return self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait(10)
        finally:
            self._process = None

    def kill(self) -> None:
        """SIGKILL: the process dies at once, in the middle of whatever it does."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0, **kwargs)  # type: ignore[arg-type]
