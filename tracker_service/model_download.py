"""Checksum-verified downloads of manifest models into the models dir.

A model comes from its manifest URL or, when a base URL is configured (`models_base_url`,
`TRACKER_MODELS_BASE_URL`: a mirror on an air-gapped site, or a test's local server), from
`<base URL>/<file>` (`<base URL>/<folder>/<file>` for each file of a folder model). The
checksums are the manifest's either way. Nothing becomes visible in the models dir before
it matched them, so an interrupted or wrong download never looks like a model.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO, Protocol

from tracker_service.model_manifest import ModelEntry, ModelError

_CHUNK = 1 << 20
# Short enough that an offline machine fails within seconds, long enough for a slow link
# (it bounds each connect and each read, not the whole download).
DEFAULT_TIMEOUT_S = 15.0


class Progress(Protocol):
    """Told the bytes received so far and the total (None when the server does not say)."""

    def __call__(self, done: int, total: int | None) -> None: ...


def source_url(entry: ModelEntry, base_url: str | None, name: str | None = None) -> str | None:
    """Where `entry` (or the file `name` of a folder model) is downloaded from."""
    if base_url:
        path = f"{entry.file}/{name}" if name else entry.file
        return f"{base_url.rstrip('/')}/{path}"
    return None if name else entry.url


def offline_fix(entry: ModelEntry, root: Path) -> str:
    """The one sentence that tells a user without a network how to get `entry` in place."""
    origin = f" (from {entry.url})" if entry.url else ""
    return (
        f"run `tracker-service models pull {entry.name}` on a machine with a network, or put "
        f"{entry.file}{origin} into {root}"
    )


def download_entry(
    entry: ModelEntry,
    root: Path,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
    base_url: str | None = None,
) -> Path:
    """Download `entry` into `root` (a file, or each file of a folder model), verified."""
    if entry.files and base_url:
        return _download_folder(entry, root, base_url, timeout_s, progress)
    url = source_url(entry, base_url)
    if not url:
        raise ModelError(
            f"model {entry.name!r} has no download URL; place {entry.file} in {root} "
            f"({entry.notes or 'see models/manifest.yaml'})"
        )
    target = root / entry.file
    _download_file(url, entry, target, entry.sha256, timeout_s=timeout_s, progress=progress)
    return target


def _download_folder(
    entry: ModelEntry, root: Path, base_url: str, timeout_s: float, progress: Progress | None
) -> Path:
    staging = root / f".{entry.file}.{secrets.token_hex(6)}.part"
    target = root / entry.file
    received = 0  # bytes of the files before this one: progress counts the whole folder

    def folder_progress(done: int, total: int | None) -> None:
        if progress is not None:
            progress(received + done, None)

    try:
        for name, digest in entry.files.items():
            url = f"{base_url.rstrip('/')}/{entry.file}/{name}"
            _download_file(
                url, entry, staging / name, digest, timeout_s=timeout_s, progress=folder_progress
            )
            received += (staging / name).stat().st_size
        try:
            os.replace(staging, target)
        except OSError as exc:
            raise ModelError(f"cannot put {entry.name!r} at {target}: {exc.strerror}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _download_file(
    url: str,
    entry: ModelEntry,
    target: Path,
    expected: str | None,
    *,
    timeout_s: float,
    progress: Progress | None,
) -> None:
    # A hidden name in the same folder, so the final rename is atomic. Opened with "xb"
    # rather than mkstemp so that the file gets the usual umask mode, not 0600.
    root = target.parent
    partial = root / f".{target.name}.{secrets.token_hex(6)}.part"
    try:
        root.mkdir(parents=True, exist_ok=True)
        out = partial.open("xb")
    except OSError as exc:
        raise ModelError(f"cannot write to models dir {root}: {exc.strerror}") from None
    try:
        with out:
            actual = _fetch(url, entry, root, out, timeout_s=timeout_s, progress=progress)
        if expected and actual != expected:
            raise ModelError(
                f"download of {entry.name!r} from {url} has SHA-256 {actual}, "
                f"expected {expected}; the file was discarded"
            )
        try:
            os.replace(partial, target)
        except OSError as exc:
            raise ModelError(f"cannot put {entry.name!r} at {target}: {exc.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)


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
            _reject_html(entry, url, root, response.headers.get_content_type())
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
            f"HTTP {exc.code} {exc.reason}; {offline_fix(entry, root)}"
        ) from None
    except (urllib.error.URLError, TimeoutError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ModelError(
            f"cannot download model {entry.name!r} from {url} ({reason}); offline? "
            f"{offline_fix(entry, root)}"
        ) from None
    return digest.hexdigest()


def _write(out: BinaryIO, chunk: bytes, root: Path) -> None:
    # A full disk is not a network problem: keep it out of the "offline?" message.
    try:
        out.write(chunk)
    except OSError as exc:
        raise ModelError(f"cannot write to models dir {root}: {exc.strerror}") from None


def _reject_html(entry: ModelEntry, url: str, root: Path, content_type: str) -> None:
    # Google Drive answers a quota or confirmation page with HTTP 200: say so plainly
    # instead of reporting a checksum mismatch on an HTML file.
    if content_type == "text/html":
        raise ModelError(
            f"cannot download model {entry.name!r} from {url}: the server sent a web "
            f"page, not the file (a download quota or confirmation page?); download it in a "
            f"browser and place {entry.file} in {root}"
        )


def _content_length(header: str | None) -> int | None:
    return int(header) if header and header.isdigit() else None
