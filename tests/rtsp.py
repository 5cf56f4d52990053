"""A real RTSP camera for tests: `scripts/rtsp_server.py` run by the system Python.

The server needs Debian's GStreamer RTSP server bindings (`scripts/install-system-deps.sh
rtsp`), not the project's environment. Use `rtsp_unavailable()` to skip with a reason when
they are missing, and `RtspServer` to start, kill and restart a camera:

    with RtspServer(video_path) as camera:
        camera.url            # rtsp://127.0.0.1:PORT/stream
        camera.kill()         # the camera dies (SIGKILL)
        camera.pause()        # or freezes (SIGSTOP) until camera.resume()
        camera.start()        # and comes back on the same port
"""

from __future__ import annotations

import functools
import os
import select
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.conftest import REPO_ROOT

SYSTEM_PYTHON = Path("/usr/bin/python3")
SERVER_SCRIPT = REPO_ROOT / "scripts" / "rtsp_server.py"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
_PROBE = """
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [name for name in ("filesrc", "qtdemux", "h264parse", "rtph264pay")
           if Gst.ElementFactory.find(name) is None]
if missing:
    raise SystemExit("missing GStreamer elements: " + ", ".join(missing))
"""


@functools.cache
def rtsp_unavailable() -> str | None:
    """Why the RTSP test server cannot run here, or None when it can."""
    if not SYSTEM_PYTHON.exists():
        return f"{SYSTEM_PYTHON} not found (the RTSP test server runs on the system Python)"
    try:
        probe = subprocess.run(
            [str(SYSTEM_PYTHON), "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "probing GStreamer timed out"
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"GStreamer RTSP server unavailable ({reason}); run scripts/install-system-deps.sh"
    return None


class RtspServer:
    """One RTSP camera serving `video` on 127.0.0.1; `port=0` picks a free port once and
    keeps it across restarts."""

    def __init__(
        self, video: Path, *, port: int = 0, mount: str = "/stream", loop: bool = True
    ) -> None:
        self.video = video
        self.port = port
        self.mount = mount
        self.loop = loop
        self.url = ""
        self._process: subprocess.Popen[str] | None = None
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (lives as long as we do)
            mode="w+", prefix="rtsp-server-", suffix=".log"
        )

    def start(self, timeout: float = START_TIMEOUT_S) -> str:
        """Start the server and wait until it listens; returns its URL."""
        if self.running:
            return self.url
        command = [str(SYSTEM_PYTHON), str(SERVER_SCRIPT), "--file", str(self.video)]
        command += ["--port", str(self.port), "--mount", self.mount]
        if self.loop:
            command.append("--loop")
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,  # our signals (Ctrl-C) are not its signals
        )
        self.url = self._wait_ready(self._process, timeout)
        self.port = int(self.url.rsplit(":", 1)[1].split("/", 1)[0])
        return self.url

    def _wait_ready(self, process: subprocess.Popen[str], timeout: float) -> str:
        stdout = process.stdout
        if stdout is None:
            raise RuntimeError("the RTSP server has no stdout pipe")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([stdout], [], [], 0.2)
            if ready:
                line = stdout.readline()
                if line.startswith("READY "):
                    return line.split()[1]
            if process.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"the RTSP server did not start within {timeout} s:\n{self.log()}")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """The camera dies at once (SIGKILL): no RTSP teardown reaches the clients."""
        self._signal(signal.SIGKILL)

    def pause(self) -> None:
        """The camera freezes (SIGSTOP): the connection stays open, no frame comes."""
        if self._process is not None:
            os.killpg(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            os.killpg(self._process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """Stop cleanly (SIGTERM), or kill after a bounded wait."""
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGCONT)  # a paused server cannot act on SIGTERM
            os.killpg(process.pid, signum)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT_S)
        if process.stdout is not None:
            process.stdout.close()

    def log(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def close(self) -> None:
        self.stop()
        self._log.close()

    def __enter__(self) -> RtspServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
