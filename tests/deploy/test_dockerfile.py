"""docker/Dockerfile and .dockerignore: locked dependencies in their own cached layer, a
non-root runtime with a health check, a CPU and a GPU target, and hadolint clean.

No Docker engine is needed: the instructions are read as text, and the dependency step is
replayed with `uv sync --dry-run` against the same pyproject.toml and uv.lock.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.deploy.conftest import DOCKERFILE

DOCKERIGNORE = REPO_ROOT / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    stage: str
    keyword: str
    arguments: str


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped, by stage name."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped[:-1] + " " if stripped.endswith("\\") else stripped
        if not stripped.endswith("\\"):
            logical.append(pending)
            pending = ""
    instructions, stage = [], ""
    for text in logical:
        keyword, _, arguments = text.partition(" ")
        if keyword.upper() == "FROM":
            stage = arguments.split()[-1] if " AS " in arguments.upper() else arguments
        instructions.append(Instruction(stage, keyword.upper(), arguments.strip()))
    return instructions


INSTRUCTIONS = parse_dockerfile(DOCKERFILE)


def stage(name: str) -> list[Instruction]:
    return [i for i in INSTRUCTIONS if i.stage == name]


def uv_syncs() -> list[Instruction]:
    return [i for i in INSTRUCTIONS if i.keyword == "RUN" and "uv sync" in i.arguments]


def index_of(instruction: Instruction) -> int:
    return INSTRUCTIONS.index(instruction)


# --- stages -------------------------------------------------------------------------------


def test_cpu_is_the_default_target_and_gpu_a_named_one() -> None:
    froms = [i.arguments for i in INSTRUCTIONS if i.keyword == "FROM"]
    assert froms[-1] == "runtime AS cpu"  # the last stage is what a plain build produces
    assert "runtime AS gpu" in froms


def test_uv_comes_from_its_official_image_at_a_pinned_version() -> None:
    uv_stage = next(i for i in INSTRUCTIONS if i.keyword == "FROM" and i.stage == "uv")
    assert uv_stage.arguments.startswith("ghcr.io/astral-sh/uv:${UV_VERSION}")
    pinned = next(i for i in INSTRUCTIONS if i.keyword == "ARG" and i.arguments.startswith("UV_"))
    assert re.fullmatch(r"UV_VERSION=\d+\.\d+\.\d+", pinned.arguments)


def test_the_gpu_target_asks_for_the_driver_and_the_gpu_profile() -> None:
    env = " ".join(i.arguments for i in stage("gpu") if i.keyword == "ENV")
    assert "NVIDIA_VISIBLE_DEVICES=all" in env
    assert "TRACKER_CONFIG=/app/configs/gpu.yaml" in env
    cpu_env = " ".join(i.arguments for i in stage("cpu") if i.keyword == "ENV")
    assert "TRACKER_CONFIG=/app/configs/cpu.yaml" in cpu_env


# --- locked dependencies, layered ---------------------------------------------------------


def test_every_uv_sync_installs_the_lock_without_dev_groups() -> None:
    syncs = uv_syncs()
    assert len(syncs) == 2
    for sync in syncs:
        assert "--locked" in sync.arguments or "--frozen" in sync.arguments
        assert "--no-default-groups" in sync.arguments or "--no-dev" in sync.arguments
        assert "--mount=type=cache,target=/root/.cache/uv" in sync.arguments


def test_dependencies_are_a_layer_before_the_sources() -> None:
    deps, project = uv_syncs()
    assert "--no-install-project" in deps.arguments
    # The dependency layer sees only the lock and pyproject (bind mounts), no sources.
    assert "source=uv.lock" in deps.arguments
    assert "source=pyproject.toml" in deps.arguments
    first_source_copy = next(
        i for i in stage("builder") if i.keyword == "COPY" and "tracker_service" in i.arguments
    )
    assert index_of(deps) < index_of(first_source_copy) < index_of(project)
    lock_copy = next(
        i for i in stage("builder") if i.keyword == "COPY" and "uv.lock" in i.arguments
    )
    assert index_of(lock_copy) < index_of(project)


def test_the_runtime_copies_the_environment_before_the_sources() -> None:
    copies = [i.arguments for i in stage("runtime") if i.keyword == "COPY"]
    assert copies[0] == "--from=builder /app/.venv /app/.venv"
    assert any("tracker_service" in copy for copy in copies[1:])
    assert any("models/manifest.yaml" in copy for copy in copies)


@pytest.fixture(scope="module")
def locked_install(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What the dependency layer's `uv sync` would install, replayed offline."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv not found")
    project = tmp_path_factory.mktemp("image")
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(REPO_ROOT / name, project / name)
    deps = uv_syncs()[0].arguments
    flags = shlex.split(deps[deps.index("uv sync") :])[2:]
    # The developer's own uv settings and active environment must not leak in.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("UV_") and name != "VIRTUAL_ENV"
    }
    env["UV_PROJECT_ENVIRONMENT"] = str(project / ".venv")
    result = subprocess.run(
        [uv, "sync", *flags, "--dry-run", "--offline"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_the_image_installs_the_runtime_dependencies(locked_install: str) -> None:
    for package in ("torch", "ultralytics", "onnxruntime", "faiss-cpu", "fastapi", "uvicorn"):
        assert f" + {package}==" in locked_install


def test_the_image_leaves_out_dev_and_bench_tools(locked_install: str) -> None:
    for package in ("pytest", "mypy", "ruff", "trackers", "playwright"):
        assert f" + {package}==" not in locked_install


# --- runtime ------------------------------------------------------------------------------


def test_the_service_runs_as_a_non_root_user() -> None:
    users = [i.arguments for i in INSTRUCTIONS if i.keyword == "USER"]
    assert users, "no USER: the service would run as root"
    assert users[-1].split(":")[0] not in {"0", "root"}


def test_the_healthcheck_hits_healthz_on_the_service_port() -> None:
    (check,) = [i.arguments for i in INSTRUCTIONS if i.keyword == "HEALTHCHECK"]
    assert "http://127.0.0.1:8000/healthz" in check
    assert "--start-period=" in check


def test_the_entrypoint_serves_on_all_interfaces() -> None:
    entrypoint = next(i.arguments for i in INSTRUCTIONS if i.keyword == "ENTRYPOINT")
    command = next(i.arguments for i in INSTRUCTIONS if i.keyword == "CMD")
    assert entrypoint == '["tracker-service"]'
    assert command == '["serve", "--host", "0.0.0.0", "--port", "8000"]'
    assert any(i.keyword == "EXPOSE" and i.arguments == "8000" for i in INSTRUCTIONS)


def test_opencv_system_libraries_are_installed_lean() -> None:
    (apt,) = [i.arguments for i in stage("runtime") if "apt-get install" in i.arguments]
    assert "--no-install-recommends" in apt
    assert "libgl1" in apt.split()
    assert "libglib2.0-0" in apt.split()
    assert "rm -rf /var/lib/apt/lists/*" in apt


def test_hadolint_passes(hadolint: str) -> None:
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- build context ------------------------------------------------------------------------


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, regex) per .dockerignore line, in order: the last match decides."""
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        excludes = not text.startswith("!")
        glob = text.lstrip("!").strip("/")
        regex = re.escape(glob).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]").replace(r"\[", "[").replace(r"\]", "]")
        patterns.append((excludes, re.compile(regex)))
    return patterns


def in_context(relative: str) -> bool:
    """Whether .dockerignore lets `relative` into the build context (Docker's rule: a
    pattern matching a folder also matches everything in it)."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for excludes, pattern in dockerignore_patterns():
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            included = not excludes
    return included


def context_sources() -> list[str]:
    """Paths the Dockerfile reads from the build context (COPY without --from, bind mounts)."""
    sources = []
    for instruction in INSTRUCTIONS:
        words = instruction.arguments.split()
        if instruction.keyword == "COPY" and not words[0].startswith("--from"):
            sources += [word for word in words[:-1] if not word.startswith("--")]
        sources += re.findall(r"--mount=type=bind,source=([^,\s]+)", instruction.arguments)
    return sources


def test_everything_the_dockerfile_copies_is_in_the_context() -> None:
    sources = context_sources()
    assert {"uv.lock", "pyproject.toml", "tracker_service", "configs"} <= set(sources)
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"{source} is not in the repository"
        assert in_context(source), f"{source} is excluded by .dockerignore"
    assert in_context("tracker_service/cli/models.py")


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "models/yolo11n.pt",
        "data/gallery.faiss",
        "tests/conftest.py",
        "tracker_service/__pycache__/config.cpython-311.pyc",
    ],
)
def test_weights_data_and_local_files_stay_out_of_the_context(path: str) -> None:
    assert not in_context(path)


def test_the_project_build_finds_its_readme_and_licence() -> None:
    # uv sync builds the project itself (hatchling), which reads `readme` and `license-files`
    # from pyproject.toml: both must be copied before that sync, or the image build fails.
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    needed = {project["readme"], *project["license-files"]}
    project_sync = uv_syncs()[-1]
    copied_before = {
        word
        for instruction in INSTRUCTIONS[: index_of(project_sync)]
        if instruction.keyword == "COPY" and not instruction.arguments.startswith("--from")
        for word in instruction.arguments.split()[:-1]
    }
    assert needed <= copied_before, f"copy {needed - copied_before} before the project's uv sync"
    runtime_copies = " ".join(i.arguments for i in stage("runtime") if i.keyword == "COPY")
    assert "LICENSE" in runtime_copies, "the image must carry the AGPL licence text"
