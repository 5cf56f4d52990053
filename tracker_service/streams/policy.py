"""Where a stream added through the API may point: the destination policy.

A stream URL makes the server connect somewhere or open a file, so without a policy the API
is a way into the server's own files and into every host it can reach (loopback services,
cloud metadata at 169.254.169.254, the service itself). The policy:

* files only under `streams.file_roots` (none by default), never under the data folder
  (other users' uploads), checked on their resolved path (links followed) when added; the
  CLI reads any file its user names and uses no policy;
* network cameras only on `streams.allowed_networks` (private LANs by default); loopback,
  link-local, multicast and unspecified addresses only when a listed network names them
  explicitly; the service's own address and port never;
* checked on the address the host RESOLVES to, again at every connection (`PolicedSource`;
  DNS may change: rebinding), every address the name has; where the protocol allows, the
  reader is handed the checked address instead of the name, so that FFmpeg cannot resolve it
  differently;
  FFmpeg follows no HTTP redirects (`configure_ffmpeg`).

Answers to the caller say "not allowed by policy" or "cannot open" and nothing more: whether a
file exists or a port is open is logged for the operator, never returned, so the API cannot
be used as a file or port scanner.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import cv2
import psutil

from tracker_service.camera_devices import device_path
from tracker_service.config import Config, StreamsConfig
from tracker_service.streams.source import LiveSource
from tracker_service.streams.state import SourceState
from tracker_service.streams.target import (
    SourceKind,
    SourceTarget,
    UnsupportedSourceError,
    diagnose_network_failure,
    parse_source,
    redact_url,
)

logger = logging.getLogger(__name__)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
REFUSED = "destination not allowed by policy"
CANNOT_OPEN = "the stream cannot be opened (the server log says why)"
# TLS checks the certificate against the name: these keep their host name (checked anyway).
_NAME_BOUND_SCHEMES = frozenset({"https", "rtsps"})
_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


class DestinationRefusedError(UnsupportedSourceError):
    """The policy refuses this destination; the message is the same for every reason."""

    def __init__(self) -> None:
        super().__init__(REFUSED)


@dataclass(frozen=True, slots=True)
class _Service:
    """The service's own listening address, which a camera URL must never point back at."""

    addresses: frozenset[IpAddress]
    port: int


def _is_special(address: IpAddress) -> bool:
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )


def _names_special(network: IpNetwork) -> bool:
    """Whether `network` names special addresses on purpose (127.0.0.0/8 does, /0 does not)."""
    return network.is_loopback or network.is_link_local or network.is_multicast


def _plain(address: IpAddress) -> IpAddress:
    """IPv4-mapped IPv6 (::ffff:127.0.0.1) is the IPv4 address it maps."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _local_addresses() -> frozenset[IpAddress]:
    found: set[IpAddress] = set()
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    found.add(ipaddress.ip_address(entry.address.split("%", 1)[0]))
                except ValueError:
                    continue
    return frozenset(found)


def _service_of(config: Config) -> _Service:
    try:
        bound = ipaddress.ip_address(config.service.host)
    except ValueError:  # a host name: resolve it the way the server did
        bound = None
    if bound is None or bound.is_unspecified:
        addresses = _local_addresses()
    else:
        addresses = frozenset({_plain(bound)})
    return _Service(addresses | {ipaddress.ip_address("127.0.0.1")}, config.service.port)


class DestinationPolicy:
    """Checks stream URLs from the API, when they are added and at every connection."""

    def __init__(self, config: Config) -> None:
        streams = config.streams
        self.networks: tuple[IpNetwork, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in streams.allowed_networks
        )
        self.file_roots = tuple(root.expanduser().resolve() for root in streams.file_roots)
        self.data_dir = config.data_dir.expanduser().resolve()
        self.service = _service_of(config)

    # --- when a stream is added -------------------------------------------------------------

    def admit(self, url: str) -> str:
        """The URL to read for `url` from the API; `DestinationRefusedError` (or another
        `UnsupportedSourceError`) otherwise. Files come back as file:// URLs of the resolved
        path. Nothing is opened or connected to here."""
        text = url.strip()
        if device_path(text) is not None:
            # A local camera device: allowed or not by `streams.allow_devices` (the manager).
            return text
        parts = _split(text)
        scheme = parts.scheme.lower() if parts is not None else ""
        if parts is None or scheme == "file" or not scheme or len(scheme) == 1:
            # Existence is never looked at: the answer must not tell a file from no file.
            path = _file_path(text, parts)
            self._check_file(path, shown=text)
            return path.as_uri()
        target = parse_source(text)
        if target.kind is SourceKind.FILE:  # a relative path that happens to hold a colon
            self._refuse(text, "a file path that looks like a URL")
        self._check_host_literal(target)
        return text

    def _check_file(self, path: Path, shown: str) -> None:
        resolved = path.expanduser().resolve()
        if not self.file_roots:
            self._refuse(shown, "file sources are off (streams.file_roots is empty)")
        if resolved.is_relative_to(self.data_dir):
            self._refuse(shown, "the data folder is never readable as a stream")
        if not any(resolved.is_relative_to(root) for root in self.file_roots):
            self._refuse(shown, "outside streams.file_roots")

    def _check_host_literal(self, target: SourceTarget) -> None:
        """A literal address in the URL is checked at once (names at connection time)."""
        parts = urlsplit(target.location)
        try:
            address = ipaddress.ip_address(parts.hostname or "")
        except ValueError:
            return
        self._check_address(address, _port_of(parts), target.display)

    # --- at every connection ----------------------------------------------------------------

    def connect_location(self, target: SourceTarget) -> str:
        """What the reader opens for a network `target` now: the URL with the host replaced
        by its checked address (the name kept for TLS). `DestinationRefusedError` when the
        policy refuses any address the name resolves to."""
        parts = urlsplit(target.location)
        port = _port_of(parts)
        host = parts.hostname or ""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            logger.warning("stream %s: cannot resolve %r: %s", target.display, host, exc)
            raise DestinationRefusedError() from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        for address in addresses:  # all of them: a name may rotate between its addresses
            self._check_address(address, port, target.display)
        if parts.scheme.lower() in _NAME_BOUND_SCHEMES:
            return target.location
        return _with_host(parts, addresses[0])

    def report(self, stream: str, reason: str) -> str:
        """Log why a stream cannot be opened (for the operator); the caller's answer."""
        # Bounded: a long URL must not be logged whole on every reconnection attempt.
        logger.warning("stream %s cannot be opened: %s", stream, reason[:300])
        return CANNOT_OPEN

    # --- the rules ----------------------------------------------------------------------------

    def _check_address(self, address: IpAddress, port: int, shown: str) -> None:
        address = _plain(address)
        if port == self.service.port and address in self.service.addresses:
            self._refuse(shown, f"{address}:{port} is this service")
        listed = [n for n in self.networks if n.version == address.version and address in n]
        if not listed:
            self._refuse(shown, f"{address} is outside streams.allowed_networks")
        if _is_special(address) and not any(_names_special(n) for n in listed):
            self._refuse(shown, f"{address} is loopback, link-local, multicast or reserved")

    def _refuse(self, shown: str, reason: str) -> None:
        logger.warning("stream refused by policy: %s (%s)", redact_url(shown)[:200], reason)
        raise DestinationRefusedError()


def _split(text: str) -> SplitResult | None:
    try:
        return urlsplit(text)
    except ValueError:
        return None


def _file_path(text: str, parts: SplitResult | None) -> Path:
    if parts is not None and parts.scheme.lower() == "file":
        target = parse_source(text)  # validates file:// (no host); does not look at the disk
        return Path(target.location)
    return Path(text)


def _port_of(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError:
        raise DestinationRefusedError() from None
    return port or _DEFAULT_PORTS.get(parts.scheme.lower(), 554)


def _with_host(parts: SplitResult, address: IpAddress) -> str:
    host = f"[{address}]" if address.version == 6 else str(address)
    userinfo = parts.netloc.rpartition("@")[0]
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{userinfo}@{host}{port}" if userinfo else f"{host}{port}"
    return parts._replace(netloc=netloc).geturl()


class PolicedSource(LiveSource):
    """A live source added through the API: every connection goes only where the policy
    allows (the name resolved and checked each time), and why one failed goes to the log,
    not to the caller. Files were checked when admitted (their resolved path)."""

    def __init__(
        self, url: str, config: StreamsConfig, *, policy: DestinationPolicy, **options: Any
    ) -> None:
        super().__init__(url, config, **options)
        self.policy = policy

    def _open_network(self) -> cv2.VideoCapture | None:
        if self.target.kind is SourceKind.DEVICE:
            return super()._open_network()  # a local device: no destination to check
        try:
            location = self.policy.connect_location(self.target)
        except UnsupportedSourceError as exc:
            self._update_state(SourceState.RECONNECTING, str(exc))
            return None
        capture = self._open_capture(location)
        if capture is None:
            reason = diagnose_network_failure(replace(self.target, location=location))
            self._update_state(SourceState.RECONNECTING, self.policy.report(self.name, reason))
        return capture
