"""What a stream URL points at, how FFmpeg is set up to read it, and why it cannot be read.

`parse_source` classifies a URL (network camera or local file) and hides its password for
display (`redact_url`); `diagnose_network_failure` and `describe_file_problem` turn a failed
open into a message a user can act on.

OpenCV's FFmpeg backend blocks inside `open` and `read` until FFmpeg gives up, 30 s by
default. The capture is given open and read timeouts (OpenCV's interrupt callback) and FFmpeg
a socket timeout in microseconds through OPENCV_FFMPEG_CAPTURE_OPTIONS (`timeout`; FFmpeg 5
and later ignore the older `stimeout`, measured with this OpenCV build: 30 s instead of 2 s).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit
from urllib.request import url2pathname

from tracker_service.camera_devices import device_path
from tracker_service.config import StreamsConfig
from tracker_service.video_file import FileProblem, file_problem

logger = logging.getLogger(__name__)

NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https"})
SUPPORTED_SCHEMES = (*sorted(NETWORK_SCHEMES), "file")
FFMPEG_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
PROBE_TIMEOUT_S = 3.0


class UnsupportedSourceError(ValueError):
    """The URL names no source this service can read; the message says what would work."""


class SourceKind(StrEnum):
    NETWORK = "network"
    FILE = "file"
    DEVICE = "device"  # a V4L2 camera (camera_devices.py), read like a network camera


@dataclass(frozen=True, slots=True)
class SourceTarget:
    """What a stream URL points at. `display` is the URL with any password hidden."""

    kind: SourceKind
    location: str
    display: str

    @property
    def timestamped(self) -> bool:
        """Whether frame timestamps follow the camera's clock (RTP: rtsp and rtsps)."""
        return self.kind is SourceKind.NETWORK and self.location.lower().startswith("rtsp")


def redact_url(url: str) -> str:
    """The URL with its password (rtsp://user:secret@host) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def parse_source(url: str) -> SourceTarget:
    """Classify a stream URL; `UnsupportedSourceError` for anything this service cannot read.

    Accepted: rtsp, rtsps, http and https URLs with a host, file:// URLs, and paths of
    existing local files. A file:// URL to a missing file is accepted here and ends the
    source in `failed` (it may be mounted later); a bare string is only taken as a path if it
    exists, because a typo such as `rtps://cam` must not become a missing file.
    """
    text = url.strip()
    if not text:
        raise UnsupportedSourceError("the stream URL is empty")
    if (device := device_path(text)) is not None:
        return SourceTarget(SourceKind.DEVICE, device, device)
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise UnsupportedSourceError(f"not a valid URL: {redact_url(text)} ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme in NETWORK_SCHEMES:
        return _network_target(text, parts)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise UnsupportedSourceError(
                f"file URLs must name a local file (file:///path), got host {parts.netloc!r}"
            )
        path = Path(url2pathname(unquote(parts.path)))
        return SourceTarget(SourceKind.FILE, str(path), text)
    if Path(text).is_file():
        return SourceTarget(SourceKind.FILE, text, text)
    shown = redact_url(text)
    if scheme:
        raise UnsupportedSourceError(
            f"unsupported stream URL scheme {scheme!r} in {shown}: use "
            f"{', '.join(SUPPORTED_SCHEMES)} or the path of a local video file"
        )
    raise UnsupportedSourceError(
        f"{shown} is neither a URL ({', '.join(SUPPORTED_SCHEMES)}) nor an existing file"
    )


def _network_target(text: str, parts: SplitResult) -> SourceTarget:
    try:
        host, _ = parts.hostname, parts.port  # .port raises for a non-numeric port
    except ValueError as exc:
        raise UnsupportedSourceError(f"invalid address in {redact_url(text)}: {exc}") from None
    if not host:
        raise UnsupportedSourceError(f"the stream URL {redact_url(text)} names no host")
    return SourceTarget(SourceKind.NETWORK, text, redact_url(text))


class _FfmpegOptions:
    """What this process set OPENCV_FFMPEG_CAPTURE_OPTIONS to (None: not set by us)."""

    lock = threading.Lock()
    ours: str | None = None
    kept_users = False


def configure_ffmpeg(config: StreamsConfig) -> str:
    """Set OPENCV_FFMPEG_CAPTURE_OPTIONS for live sources, unless the user set it.

    It is process-wide (OpenCV reads it at each open), so it is set once, early, under a lock
    (the manager calls this at start-up). A value set by the user is kept: the capture's own
    open/read timeouts still bound every wait.
    """
    timeout_us = round(config.read_timeout_s * 1e6)
    # No HTTP redirects: each hop would have to pass the destination policy (streams/policy.py).
    wanted = f"rtsp_transport;{config.rtsp_transport}|timeout;{timeout_us}|max_redirects;0"
    with _FfmpegOptions.lock:
        current = os.environ.get(FFMPEG_OPTIONS_ENV)
        if current is not None and current != _FfmpegOptions.ours:
            if not _FfmpegOptions.kept_users:
                logger.info("keeping %s=%s set by the environment", FFMPEG_OPTIONS_ENV, current)
                if "max_redirects;0" not in current:
                    logger.warning(
                        "%s lacks max_redirects;0: HTTP redirects are followed "
                        "without the destination policy",
                        FFMPEG_OPTIONS_ENV,
                    )
                _FfmpegOptions.kept_users = True
            return current
        if current != wanted:
            os.environ[FFMPEG_OPTIONS_ENV] = wanted
            _FfmpegOptions.ours = wanted
        return wanted


_FILE_PROBLEM_MESSAGES = {
    FileProblem.MISSING: "file not found: {path}",
    FileProblem.NOT_A_FILE: "not a file: {path}",
    FileProblem.EMPTY: "file is empty: {path}",
}


def describe_file_problem(path: Path) -> str | None:
    """Why `path` cannot be read as a video file, in words (None: it looks readable)."""
    problem = file_problem(path)
    return None if problem is None else _FILE_PROBLEM_MESSAGES[problem].format(path=path)


def diagnose_network_failure(target: SourceTarget) -> str:
    """Why a network camera could not be opened, as precisely as a TCP probe can tell.

    OpenCV only says "not opened"; FFmpeg's reason goes to stderr. A plain TCP connection to
    the camera tells the cases users act on apart: wrong host, nothing listening, firewall.
    """
    parts = urlsplit(target.location)
    host = parts.hostname or ""
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 554)
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except socket.gaierror as exc:
        return f"cannot resolve host {host!r}: {exc.strerror}"
    except ConnectionRefusedError:
        return f"connection refused by {where} (no camera or server listening)"
    except TimeoutError:
        return f"no answer from {where} within {PROBE_TIMEOUT_S:.0f} s (host down or firewall)"
    except OSError as exc:
        return f"cannot connect to {where}: {exc.strerror or exc}"
    return (
        f"{where} accepts connections but no video could be opened from {target.display} "
        "(wrong path or credentials, unsupported codec, or the camera did not answer in time)"
    )
