"""`tracker-service models list|pull|verify`: the model manifest against a models folder.

The models folder is `--models-dir`, else the configuration's `models_dir` (YAML file <
`TRACKER_MODELS_DIR`), default `models/`. Exit codes: 0 when all is well, 1 when `verify`
found a model missing or corrupt, 2 for an error the top-level CLI reports (unknown model,
no URL, offline, a download with the wrong checksum, no such folder).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from tracker_service.model_store import (
    MANIFEST_PATH,
    ModelCheck,
    ModelEntry,
    ModelError,
    ModelStatus,
    check_entry,
    load_manifest,
    manifest_entries,
    obtain_entry,
    verify_dir,
)

_NULL = io.StringIO()  # --quiet: progress goes nowhere (not a terminal, and never read)
EXIT_OK = 0
EXIT_PROBLEMS = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", type=Path, help="YAML configuration file (default: $TRACKER_CONFIG)"
    )
    common.add_argument(
        "--models-dir",
        type=Path,
        help="models folder (default: the configuration's models_dir, $TRACKER_MODELS_DIR)",
    )
    common.add_argument(
        "--manifest", type=Path, default=MANIFEST_PATH, help="model manifest (default: %(default)s)"
    )
    parser = subparsers.add_parser(
        "models",
        help="list, download and verify model weights",
        description="Model weights named in the manifest: list them, download them with "
        "checksum verification, or verify a folder of them.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_list(actions, common)
    _add_pull(actions, common)
    _add_verify(actions, common)


def _add_list(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = actions.add_parser(
        "list",
        parents=[common],
        help="show the manifest and what the models folder holds",
        description="Every manifest model with its kind, format, file, licence and its "
        "state in the models folder (verified, present without checksum, corrupt, absent).",
    )
    parser.set_defaults(handler=run_list)


def _add_pull(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = actions.add_parser(
        "pull",
        parents=[common],
        help="download models into the models folder, verifying their SHA-256",
        description="Download each named model into the models folder. A download whose "
        "SHA-256 differs from the manifest's is discarded. A verified copy already there is "
        "kept unless --force.",
    )
    parser.add_argument("names", nargs="+", metavar="NAME", help="model name from the manifest")
    parser.add_argument("--force", action="store_true", help="download even if verified")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="network timeout in seconds (%(default)s)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--base-url",
        help="download from <URL>/<file> instead of the manifest's URLs (a mirror; "
        "default: models_base_url, $TRACKER_MODELS_BASE_URL)",
    )
    parser.set_defaults(handler=run_pull)


def _add_verify(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = actions.add_parser(
        "verify",
        parents=[common],
        help="check the models in a folder against their SHA-256",
        description="Check every manifest model present in DIR against the manifest's "
        "SHA-256. Exits 1 naming each corrupt or missing file.",
    )
    parser.add_argument(
        "dir", nargs="?", type=Path, metavar="DIR", help="folder to check (default: models dir)"
    )
    parser.add_argument(
        "--all",
        dest="require_all",
        action="store_true",
        help="also require every model that has a checksum to be present",
    )
    parser.set_defaults(handler=run_verify)


def models_dir_of(args: argparse.Namespace) -> Path:
    """`--models-dir` if given, else the configured one (file < environment)."""
    from tracker_service.config import load_config

    if args.models_dir is not None:
        return Path(args.models_dir)
    return load_config(args.config).models_dir


def run_list(args: argparse.Namespace) -> int:
    root = models_dir_of(args)
    checks = [check_entry(entry, root) for entry in load_manifest(args.manifest).values()]
    print(f"models dir: {root}")
    print(_table(checks))
    return EXIT_OK


def _table(checks: Sequence[ModelCheck]) -> str:
    header = ("NAME", "KIND", "FORMAT", "FILE", "STATUS", "LICENCE")
    rows = [header] + [
        (c.entry.name, c.entry.kind, c.entry.format, c.entry.file, c.status.value, c.entry.licence)
        for c in checks
    ]
    # The last column is free text: pad only the others.
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]))
    return "\n".join(lines)


def run_pull(args: argparse.Namespace) -> int:
    root = models_dir_of(args)
    from tracker_service.config import load_config

    base_url = args.base_url or load_config(args.config).models_base_url
    entries = manifest_entries(args.names, load_manifest(args.manifest))
    for entry in entries:
        status = check_entry(entry, root).status
        if not args.force and status is ModelStatus.VERIFIED:
            print(f"{entry.name}: {root / entry.file} already present and verified")
            continue
        if status is not ModelStatus.ABSENT:  # corrupt, unverifiable, or --force: replace
            _remove(root / entry.file)
        # A model without a URL, or a failed download, raises ModelError: the CLI exits 2.
        path = _pull(entry, root, base_url, args.timeout, quiet=args.quiet)
        if entry.has_checksum:
            print(f"{entry.name}: {path}, SHA-256 verified")
        else:
            print(f"{entry.name}: downloaded to {path}")
            print(f"warning: {entry.name} has no checksum in the manifest", file=sys.stderr)
    return EXIT_OK


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _pull(
    entry: ModelEntry, root: Path, base_url: str | None, timeout_s: float, quiet: bool
) -> Path:
    from tracker_service.progress import ProgressReport

    report = ProgressReport(entry.name, byte_sizes=True, stream=None if not quiet else _NULL)
    try:
        return obtain_entry(entry, root, base_url, report, timeout_s)
    finally:
        report.close()


def run_verify(args: argparse.Namespace) -> int:
    root = Path(args.dir) if args.dir is not None else models_dir_of(args)
    if not root.is_dir():
        raise ModelError(f"models dir {root} does not exist or is not a folder")
    checks = verify_dir(load_manifest(args.manifest).values(), root, args.require_all)
    problems = [problem for check in checks for problem in check.problems]
    for check in checks:
        if check.status is not ModelStatus.ABSENT:
            print(f"{check.status.value:>20}  {check.entry.name}")
        elif check.problems:  # absent, and required by --all
            print(f"{'missing':>20}  {check.entry.name}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    checked = sum(check.status is ModelStatus.VERIFIED for check in checks)
    print(f"{root}: {checked} model(s) verified, {len(problems)} problem(s)")
    return EXIT_PROBLEMS if problems else EXIT_OK
