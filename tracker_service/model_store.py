"""Finding model weights: a path, a manifest name in the models dir, or a download.

The manifest (`models/manifest.yaml`) names every supported model with its file, download
URL (where one exists) and SHA-256. `resolve_model` turns what the user configured into
something a backend can load, and fails with a message that says what was tried.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import yaml

ModelKind = Literal["detector", "reid"]
MANIFEST_PATH = Path(__file__).resolve().parent.parent / "models" / "manifest.yaml"
ULTRALYTICS_SUFFIXES = (".pt", ".onnx", ".engine", ".torchscript", ".tflite", ".mlpackage")
_CHUNK = 1 << 20


class ModelError(RuntimeError):
    """A model cannot be found, fetched or verified; the message says which and why."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: ModelKind
    format: str
    file: str
    url: str | None = None
    sha256: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    input_size: tuple[int, int] | None = None
    embedding_size: int | None = None
    licence: str = ""
    notes: str = ""

    def checksums(self, root: Path) -> dict[Path, str]:
        """Expected SHA-256 per file on disk for this model under `root`."""
        target = root / self.file
        if self.files:
            return {target / name: digest for name, digest in self.files.items()}
        return {target: self.sha256} if self.sha256 else {}


@cache
def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, ModelEntry]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"model manifest {path} cannot be read: {exc.strerror}") from None
    entries: dict[str, ModelEntry] = {}
    for item in raw.get("models", []):
        size = item.get("input_size")
        entry = ModelEntry(
            name=item["name"],
            kind=item["kind"],
            format=item["format"],
            file=item["file"],
            url=item.get("url"),
            sha256=item.get("sha256"),
            files=dict(item.get("files") or {}),
            input_size=tuple(size) if size else None,
            embedding_size=item.get("embedding_size"),
            licence=str(item.get("licence", "")),
            notes=str(item.get("notes", "")).strip(),
        )
        entries[entry.name] = entry
    return entries


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
    for path, expected in entry.checksums(root).items():
        if not path.is_file():
            problems.append(f"{entry.name}: {path} is missing")
        elif (actual := sha256_of(path)) != expected:
            problems.append(
                f"{entry.name}: {path} has SHA-256 {actual[:12]}..., expected {expected[:12]}... "
                "(corrupt or a different file)"
            )
    return problems


def download_entry(entry: ModelEntry, root: Path, timeout_s: float = 60.0) -> Path:
    """Download `entry` into `root`, verifying its checksum before it becomes visible."""
    if not entry.url:
        raise ModelError(
            f"model {entry.name!r} has no download URL; place {entry.file} in {root} "
            f"({entry.notes or 'see models/manifest.yaml'})"
        )
    root.mkdir(parents=True, exist_ok=True)
    target = root / entry.file
    handle, partial = tempfile.mkstemp(prefix=f".{entry.file}.", dir=root)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(
            entry.url, timeout=timeout_s
        ) as response:
            shutil.copyfileobj(response, out, _CHUNK)
        if entry.sha256 and (actual := sha256_of(Path(partial))) != entry.sha256:
            raise ModelError(
                f"download of {entry.name!r} from {entry.url} has SHA-256 {actual}, "
                f"expected {entry.sha256}; the file was discarded"
            )
        os.replace(partial, target)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ModelError(
            f"cannot download model {entry.name!r} from {entry.url}: {reason} "
            f"(offline? place {entry.file} in {root} instead)"
        ) from None
    finally:
        Path(partial).unlink(missing_ok=True)
    return target


def resolve_model(spec: str, kind: ModelKind, models_dir: Path) -> str:
    """Turn a configured model (path, manifest name or Ultralytics name) into a loadable one.

    Returns a filesystem path, or for detectors an Ultralytics model name that Ultralytics
    downloads itself. Raises `ModelError` with what was tried.
    """
    candidate = Path(spec).expanduser()
    if candidate.exists():
        return str(candidate)
    manifest = load_manifest()
    entry = manifest.get(spec) or manifest.get(Path(spec).stem)
    if entry is not None and entry.kind == kind:
        local = models_dir / entry.file
        if local.exists():
            problems = verify_entry(entry, models_dir)
            if problems:
                raise ModelError("; ".join(problems))
            return str(local)
        if kind == "detector" and entry.url and entry.sha256 is None:
            return entry.file  # an Ultralytics asset: Ultralytics downloads it
        return str(download_entry(entry, models_dir))
    if kind == "detector" and os.sep not in spec and spec.endswith(ULTRALYTICS_SUFFIXES):
        return spec
    known = ", ".join(sorted(name for name, e in manifest.items() if e.kind == kind))
    raise ModelError(
        f"{kind} model {spec!r} not found: it is not an existing path, nor a model in "
        f"{models_dir} named in the manifest (known {kind} models: {known})"
    )
