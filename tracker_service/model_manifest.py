"""The model manifest (`models/manifest.yaml`): every supported model, parsed and checked.

Each entry names a model's file in the models dir, where it is downloaded from (a URL, or a
mirror's base URL plus the file name) and its SHA-256, or, for a model made here on first
use, the manifest entry it is exported from (`export_from`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

# `sample`: not a model but a sample video (the Docker demo's camera), fetched the same way.
ModelKind = Literal["detector", "reid", "sample"]
# Who fetches a model that is not in the models dir: this project (checksum-verified, into
# the models dir), or Ultralytics, which downloads its own asset names by itself.
Downloader = Literal["model_store", "ultralytics"]
MANIFEST_PATH = Path(__file__).resolve().parent.parent / "models" / "manifest.yaml"
_SHA256_LENGTH = 64
_REQUIRED_KEYS = frozenset({"name", "kind", "format", "file"})
_OPTIONAL_KEYS = frozenset(
    {
        "url",
        "sha256",
        "files",
        "input_size",
        "embedding_size",
        "licence",
        "notes",
        "downloader",
        "export_from",
    }
)


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
    downloader: Downloader = "model_store"
    # A model made on first use by exporting another entry (a torchreid state dict) to
    # ONNX; its checksum is recorded at export time in the model card next to it.
    export_from: ModelEntry | None = None

    def checksums(self, root: Path) -> dict[Path, str]:
        """Expected SHA-256 per file on disk for this model under `root`."""
        target = root / self.file
        if self.files:
            return {target / name: digest for name, digest in self.files.items()}
        return {target: self.sha256} if self.sha256 else {}

    @property
    def has_checksum(self) -> bool:
        return bool(self.files or self.sha256 or self.export_from)


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
    sources: dict[str, str] = {}
    for index, item in enumerate(raw["models"]):
        entry = _parse_entry(item, f"{path}: models[{index}]")
        if entry.name in entries:
            raise ModelError(f"{path}: model {entry.name!r} is listed twice")
        entries[entry.name] = entry
        if item.get("export_from"):
            sources[entry.name] = str(item["export_from"])
    for name, source_name in sources.items():
        entries[name] = replace(entries[name], export_from=_export_source(entries, source_name))
    return entries


def _export_source(entries: Mapping[str, ModelEntry], name: str) -> ModelEntry:
    source = entries.get(name)
    if source is None or source.format != "torchreid" or not source.sha256:
        raise ModelError(
            f"export_from {name!r} must name a torchreid entry with a sha256 in the manifest"
        )
    return source


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
    _check_digests([item.get("sha256"), *files.values()], where)
    if files and item.get("sha256"):
        raise ModelError(f"{where}: give either sha256 (one file) or files (a folder), not both")
    if files and item.get("url"):
        raise ModelError(f"{where}: a folder model (files) cannot have a single download url")
    if item.get("export_from") and (
        item.get("url") or item.get("sha256") or item["format"] != "onnx"
    ):
        raise ModelError(f"{where}: an export_from model is an ONNX file without url or sha256")
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


def _check_digests(digests: Iterable[Any], where: str) -> None:
    for digest in digests:
        if digest is None:
            continue
        text = str(digest)
        if len(text) != _SHA256_LENGTH or text.strip("0123456789abcdef"):
            raise ModelError(f"{where}: {digest!r} is not a lower-case hex SHA-256")


def _check_file_name(name: str, where: str) -> None:
    # Files are joined onto the models dir; a manifest must not write outside it.
    if not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise ModelError(f"{where}: file {name!r} must be a plain relative name")


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
