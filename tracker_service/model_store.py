"""Finding model weights: a path, a manifest name in the models dir, or a download.

The manifest (`models/manifest.yaml`, parsed by `model_manifest`) names every supported
model with its file, download URL (where one exists) and SHA-256. `resolve_model` turns
what the user configured into something a backend can load, downloading or exporting it on
first use, and fails with a message that says what was tried. `check_entry` and
`verify_dir` are what `tracker-service models` is built on.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from tracker_service.model_download import DEFAULT_TIMEOUT_S, Progress, download_entry
from tracker_service.model_manifest import (
    MANIFEST_PATH,
    ModelEntry,
    ModelError,
    ModelKind,
    load_manifest,
    manifest_entries,
)

__all__ = [
    "MANIFEST_PATH",
    "ModelCheck",
    "ModelEntry",
    "ModelError",
    "ModelKind",
    "ModelStatus",
    "Progress",
    "check_entry",
    "download_entry",
    "load_manifest",
    "manifest_entries",
    "resolve_model",
    "sha256_of",
    "verify_dir",
    "verify_entry",
]

ULTRALYTICS_SUFFIXES = (".pt", ".onnx", ".engine", ".torchscript", ".tflite", ".mlpackage")
_CHUNK = 1 << 20


class ModelStatus(StrEnum):
    """What a models folder holds for one manifest entry."""

    VERIFIED = "verified"
    UNVERIFIED = "present, no checksum"
    CORRUPT = "corrupt"
    ABSENT = "absent"


@dataclass(frozen=True)
class ModelCheck:
    entry: ModelEntry
    status: ModelStatus
    problems: tuple[str, ...] = ()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_entry(entry: ModelEntry, root: Path) -> list[str]:
    """Problems with `entry`'s files under `root` (empty when they match the manifest)."""
    problems = []
    target = root / entry.file
    if not target.exists():
        return [f"{entry.name}: {target} is missing"]
    if entry.export_from is not None:
        return _export_problems(entry, target)
    for path, expected in entry.checksums(root).items():
        if not path.is_file():
            problems.append(f"{entry.name}: {path} is missing")
        elif (actual := sha256_of(path)) != expected:
            problems.append(
                f"{entry.name}: {path} has SHA-256 {actual[:12]}..., expected {expected[:12]}... "
                "(corrupt or a different file)"
            )
    return problems


def card_path_for(model_path: Path) -> Path:
    """The model card written next to an exported model (`<stem>.json`)."""
    return model_path.with_suffix(".json")


def _export_problems(entry: ModelEntry, target: Path) -> list[str]:
    """An exported model must match the checksums its card recorded at export time: its
    own, and the manifest's for the weights it was exported from."""
    assert entry.export_from is not None
    card_path = card_path_for(target)
    try:
        card: Any = json.loads(card_path.read_text(encoding="utf-8"))
        recorded, source = card["sha256"], card["source_weights"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return [f"{entry.name}: {card_path} (its export record) is missing or unreadable"]
    if source != entry.export_from.sha256:
        return [
            f"{entry.name}: {target} was exported from other weights than {entry.export_from.file}"
        ]
    if sha256_of(target) != recorded:
        return [f"{entry.name}: {target} does not match the SHA-256 its card recorded (corrupt)"]
    return []


def check_entry(entry: ModelEntry, root: Path) -> ModelCheck:
    """Whether `root` holds `entry`, and whether its files match the manifest."""
    if not (root / entry.file).exists():
        return ModelCheck(entry, ModelStatus.ABSENT)
    if not entry.has_checksum:
        return ModelCheck(entry, ModelStatus.UNVERIFIED)
    problems = verify_entry(entry, root)
    if problems:
        return ModelCheck(entry, ModelStatus.CORRUPT, tuple(problems))
    return ModelCheck(entry, ModelStatus.VERIFIED)


def verify_dir(
    entries: Iterable[ModelEntry], root: Path, require_all: bool = False
) -> list[ModelCheck]:
    """Check every entry present in `root`; with `require_all`, also those with a checksum.

    An absent model is a problem only under `require_all` (and only when the manifest has a
    checksum for it: a model nobody can verify cannot be required).
    """
    checks = []
    for entry in entries:
        check = check_entry(entry, root)
        if check.status is ModelStatus.ABSENT and require_all and entry.has_checksum:
            problem = f"{entry.name}: {root / entry.file} is missing"
            check = ModelCheck(entry, ModelStatus.ABSENT, (problem,))
        checks.append(check)
    return checks


def resolve_model(spec: str, kind: ModelKind, models_dir: Path, base_url: str | None = None) -> str:
    """Turn a configured model (path, manifest name or Ultralytics name) into a loadable one.

    Returns a filesystem path; a manifest model missing from `models_dir` is downloaded (or
    exported, for an `export_from` model) into it first. Any other Ultralytics asset name
    becomes a path in `models_dir`, where Ultralytics downloads it. Raises `ModelError` with
    what was tried.
    """
    candidate = Path(spec).expanduser()
    if candidate.exists():
        return str(candidate)
    manifest = load_manifest()
    entry = manifest.get(spec) or manifest.get(Path(spec).stem)
    if entry is not None and entry.kind == kind:
        return str(obtain_entry(entry, models_dir, base_url))
    if kind == "detector" and os.sep not in spec and spec.endswith(ULTRALYTICS_SUFFIXES):
        return str(models_dir / spec)  # Ultralytics downloads its asset names to this path
    known = ", ".join(sorted(name for name, e in manifest.items() if e.kind == kind))
    raise ModelError(
        f"{kind} model {spec!r} not found: it is not an existing path, nor a model in "
        f"{models_dir} named in the manifest (known {kind} models: {known})"
    )


def fetch_weights(
    spec: str, kind: ModelKind, models_dir: Path, base_url: str | None = None
) -> None:
    """Download what `spec` needs from the network, if anything, and nothing else.

    Run for every configured model before any is loaded, so that an offline first run
    fails at once with one line, before the libraries that load models print anything.
    """
    entry = load_manifest().get(spec) or load_manifest().get(Path(spec).stem)
    if Path(spec).expanduser().exists():
        return
    if entry is None or entry.kind != kind:
        resolve_model(spec, kind, models_dir, base_url)  # a bad name or path fails here
        return
    if entry.export_from is not None:
        if verify_entry(entry, models_dir):  # not exported yet (or stale): needs its source
            obtain_entry(entry.export_from, models_dir, base_url)
        return
    obtain_entry(entry, models_dir, base_url)


def obtain_entry(
    entry: ModelEntry,
    models_dir: Path,
    base_url: str | None = None,
    progress: Progress | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """`entry` in `models_dir`, verified: already there, downloaded, or exported once."""
    local = models_dir / entry.file
    if entry.export_from is not None:
        if local.exists() and not verify_entry(entry, models_dir):
            return local
        # The exporter needs PyTorch and the re-ID toolkit: imported only when used.
        from tracker_service.reid.first_use import export_on_first_use

        source = obtain_entry(entry.export_from, models_dir, base_url, progress, timeout_s)
        return export_on_first_use(entry, source, local)
    if local.exists():
        problems = verify_entry(entry, models_dir)
        if problems:
            raise ModelError("; ".join(problems))
        return local
    if entry.downloader == "ultralytics" and not base_url:
        return local  # an Ultralytics asset: Ultralytics downloads it to this path
    if progress is None:
        from tracker_service.progress import download_progress

        with download_progress(entry.name) as bar:
            return download_entry(entry, models_dir, timeout_s, bar, base_url)
    return download_entry(entry, models_dir, timeout_s, progress, base_url)
