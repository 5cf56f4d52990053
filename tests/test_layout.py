"""The layout's rules (ARCHITECTURE.md): what may import what, and how big a module may be."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tracker_service"
MAX_MODULE_LINES = 400


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_only_the_cli_and_jobs_import_the_file_runner() -> None:
    importers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "tracker_service.runner" in imported_modules(path)
    }
    assert importers == {"cli/track.py", "cli/reid.py", "jobs.py", "jobs_shared.py"}


def test_the_service_never_loads_the_training_toolkit() -> None:
    code = (
        "import sys\n"
        "import tracker_service.api.app, tracker_service.jobs, tracker_service.runner\n"
        "import tracker_service.streams, tracker_service.cli\n"
        "tracker_service.cli.build_parser()\n"
        "print(sorted(m for m in sys.modules if m.startswith('tracker_service.reid.training')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}
