"""Finding model weights: a path, a manifest name in the models dir, or a download.

The manifest (`models/manifest.yaml`) names every supported model with its file, download
URL (where one exists) and SHA-256. `resolve_model` turns what the user configured into
something a backend can load, and fails with a message that says what was tried.
`check_entry` and `download_entry` are what `tracker-service models` is built on.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol, get_args

import yaml

ModelKind = Literal["detector", "reid"]
# Who fetches a model that is not in the models dir: this module (checksum-verified, into
# the models dir), or Ultralytics, which downloads its own asset names by itself.
Downloader = Literal["model_store", "ultralytics"]
MANIFEST_PATH = Path(__file__).resolve().parent.parent / "models" / "manifest.yaml"
ULTRALYTICS_SUFFIXES = (".pt", ".onnx", ".engine", ".torchscript", ".tflite", ".mlpackage")
_CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REQUIRED_KEYS = frozenset({"name", "kind", "format", "file"})
_OPTIONAL_KEYS = frozenset(
    {"url", "sha256", "files", "input_size", "embedding_size", "licence", "notes", "downloader"}
)


class ModelError(RuntimeError):
    """A model cannot be found, fetched or verified; the message says which and why."""


class Progress(Protocol):
    """Told the bytes received so far and the total (None when the server does not say)."""

    def __call__(self, done: int, total: int | None) -> None: ...


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
    downloader: Downloader = "model_store"

    def checksums(self, root: Path) -> dict[Path, str]:
        """Expected SHA-256 per file on disk for this model under `root`."""
        target = root / self.file
        if self.files:
            return {target / name: digest for name, digest in self.files.items()}
        return {target: self.sha256} if self.sha256 else {}

    @property
    def has_checksum(self) -> bool:
        return bool(self.files or self.sha256)


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


@cache
def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, ModelEntry]:
    """The manifest's entries by name; a malformed manifest is a `ModelError` naming the entry."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"model manifest {path} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ModelError(f"model manifest {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
        raise ModelError(f"model manifest {path} must hold a `models:` list")
    entries: dict[str, ModelEntry] = {}
    for index, item in enumerate(raw["models"]):
        entry = _parse_entry(item, f"{path}: models[{index}]")
        if entry.name in entries:
            raise ModelError(f"{path}: model {entry.name!r} is listed twice")
        entries[entry.name] = entry
    return entries


def _parse_entry(item: Any, where: str) -> ModelEntry:
    if not isinstance(item, dict):
        raise ModelError(f"{where} must be a mapping")
    where = f"{where} ({item.get('name', '?')})"
    if missing := sorted(_REQUIRED_KEYS - item.keys()):
        raise ModelError(f"{where}: missing {', '.join(missing)}")
    # Unknown keys are typos (`sha265:`) that would silently disable verification.
    if unknown := sorted(item.keys() - _REQUIRED_KEYS - _OPTIONAL_KEYS):
        raise ModelError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if item["kind"] not in get_args(ModelKind):
        raise ModelError(f"{where}: kind must be one of {get_args(ModelKind)}")
    downloader = item.get("downloader", "model_store")
    if downloader not in get_args(Downloader):
        raise ModelError(f"{where}: downloader must be one of {get_args(Downloader)}")
    if downloader == "ultralytics" and item["kind"] != "detector":
        raise ModelError(f"{where}: only detectors can be left to Ultralytics to download")
    _check_file_name(str(item["file"]), where)
    files = {str(name): str(digest) for name, digest in (item.get("files") or {}).items()}
    for name in files:
        _check_file_name(name, where)
    for digest in [item.get("sha256"), *files.values()]:
        if digest is not None and not _SHA256.match(str(digest)):
            raise ModelError(f"{where}: {digest!r} is not a lower-case hex SHA-256")
    if files and item.get("sha256"):
        raise ModelError(f"{where}: give either sha256 (one file) or files (a folder), not both")
    if files and item.get("url"):
        raise ModelError(f"{where}: a folder model (files) cannot have a single download url")
    size = item.get("input_size")
    return ModelEntry(
        name=str(item["name"]),
        kind=item["kind"],
        format=str(item["format"]),
        file=str(item["file"]),
        url=item.get("url"),
        sha256=item.get("sha256"),
        files=files,
        input_size=(int(size[0]), int(size[1])) if size else None,
        embedding_size=item.get("embedding_size"),
        licence=str(item.get("licence", "")),
        notes=str(item.get("notes", "")).strip(),
        downloader=downloader,
    )


def _check_file_name(name: str, where: str) -> None:
    # Files are joined onto the models dir; a manifest must not write outside it.
    if not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise ModelError(f"{where}: file {name!r} must be a plain relative name")


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


def download_entry(
    entry: ModelEntry,
    root: Path,
    timeout_s: float = 60.0,
    progress: Progress | None = None,
) -> Path:
    """Download `entry` into `root`, verifying its checksum before it becomes visible.

    The file is written under a temporary name in `root` and renamed into place only after
    its SHA-256 matched, so an interrupted or wrong download never looks like a model.
    """
    if not entry.url:
        raise ModelError(
            f"model {entry.name!r} has no download URL; place {entry.file} in {root} "
            f"({entry.notes or 'see models/manifest.yaml'})"
        )
    # A hidden name in the same folder, so the final rename is atomic. Opened with "xb"
    # rather than mkstemp so that the file gets the usual umask mode, not 0600.
    partial = root / f".{entry.file}.{secrets.token_hex(6)}.part"
    try:
        root.mkdir(parents=True, exist_ok=True)
        out = partial.open("xb")
    except OSError as exc:
        raise ModelError(f"cannot write to models dir {root}: {exc.strerror}") from None
    try:
        with out:
            actual = _fetch(entry.url, entry, root, out, timeout_s=timeout_s, progress=progress)
        if entry.sha256 and actual != entry.sha256:
            raise ModelError(
                f"download of {entry.name!r} from {entry.url} has SHA-256 {actual}, "
                f"expected {entry.sha256}; the file was discarded"
            )
        target = root / entry.file
        try:
            os.replace(partial, target)
        except OSError as exc:
            raise ModelError(f"cannot put {entry.name!r} at {target}: {exc.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)
    return target


def _fetch(
    url: str,
    entry: ModelEntry,
    root: Path,
    out: BinaryIO,
    *,
    timeout_s: float,
    progress: Progress | None,
) -> str:
    """Stream `url` into `out`; returns the SHA-256 of what was received."""
    request = urllib.request.Request(url, headers={"User-Agent": "tracker-service"})
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            _reject_html(entry, root, response.headers.get_content_type())
            total = _content_length(response.headers.get("Content-Length"))
            done = 0
            while chunk := response.read(_CHUNK):
                _write(out, chunk, root)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except urllib.error.HTTPError as exc:
        raise ModelError(
            f"cannot download model {entry.name!r} from {url}: the server answered "
            f"HTTP {exc.code} {exc.reason}"
        ) from None
    except (urllib.error.URLError, TimeoutError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ModelError(
            f"cannot download model {entry.name!r} from {url}: {reason} "
            f"(offline? download it elsewhere and place {entry.file} in {root})"
        ) from None
    return digest.hexdigest()


def _write(out: BinaryIO, chunk: bytes, root: Path) -> None:
    # A full disk is not a network problem: keep it out of the "offline?" message below.
    try:
        out.write(chunk)
    except OSError as exc:
        raise ModelError(f"cannot write to models dir {root}: {exc.strerror}") from None


def _reject_html(entry: ModelEntry, root: Path, content_type: str) -> None:
    # Google Drive answers a quota or confirmation page with HTTP 200: say so plainly
    # instead of reporting a checksum mismatch on an HTML file.
    if content_type == "text/html":
        raise ModelError(
            f"cannot download model {entry.name!r} from {entry.url}: the server sent a web "
            f"page, not the file (a download quota or confirmation page?); download it in a "
            f"browser and place {entry.file} in {root}"
        )


def _content_length(header: str | None) -> int | None:
    return int(header) if header and header.isdigit() else None


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
        if entry.downloader == "ultralytics":
            return entry.file  # an Ultralytics asset: Ultralytics downloads it
        return str(download_entry(entry, models_dir))
    if kind == "detector" and os.sep not in spec and spec.endswith(ULTRALYTICS_SUFFIXES):
        return spec
    known = ", ".join(sorted(name for name, e in manifest.items() if e.kind == kind))
    raise ModelError(
        f"{kind} model {spec!r} not found: it is not an existing path, nor a model in "
        f"{models_dir} named in the manifest (known {kind} models: {known})"
    )


def manifest_entries(names: Iterable[str], manifest: Mapping[str, ModelEntry]) -> list[ModelEntry]:
    """The entries named, in order; an unknown name is a `ModelError` listing the known ones."""
    entries = []
    for name in names:
        entry = manifest.get(name)
        if entry is None:
            raise ModelError(
                f"no model named {name!r} in the manifest (known: {', '.join(manifest)})"
            )
        entries.append(entry)
    return entries
