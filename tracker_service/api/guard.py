"""Browser-facing defences around every request: trusted hosts, origins, security headers.

* **Host**: a page on another site can make its own name resolve to 127.0.0.1 (DNS
  rebinding) and then talk to this service as "same origin". Only the names the service is
  meant to be reached by are answered (`service.allowed_hosts`; localhost names and the bind
  address by default); the probes (`/healthz`, `/readyz`, `/metrics`) answer any host.
* **Origin**: browsers send cross-site form posts and WebSockets without asking (no CORS
  preflight), with an `Origin` header. WebSockets and state-changing requests from a browser
  origin other than the service's own or `service.allowed_origins` are refused. Requests
  without `Origin` (API clients, curl) are not browser cross-site requests and pass.
* **Headers**: no framing (clickjacking), no MIME sniffing, no Referer, and a
  Content-Security-Policy for the console.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker_service.config import ServiceConfig

logger = logging.getLogger(__name__)

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
CONSOLE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def host_name(host_header: str) -> str:
    """The name in a Host header, without port, brackets or trailing dot, lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def default_allowed_hosts(bind_host: str) -> list[str]:
    hosts = list(LOCAL_HOSTS)
    try:
        specific = not ipaddress.ip_address(bind_host).is_unspecified
    except ValueError:
        specific = bool(bind_host)
    if specific and bind_host.lower() not in hosts:
        hosts.append(bind_host.lower())
    return hosts


class RequestGuard:
    """ASGI middleware: refuses untrusted hosts and cross-origin writes, adds headers."""

    def __init__(self, app: ASGIApp, config: ServiceConfig) -> None:
        self.app = app
        configured = config.allowed_hosts
        hosts = default_allowed_hosts(config.host) if configured is None else configured
        self.any_host = "*" in hosts
        self.hosts = frozenset(host_name(h) for h in hosts if not h.startswith("*."))
        self.host_suffixes = tuple(h[1:].lower() for h in hosts if h.startswith("*."))
        self.origins = frozenset(config.allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self._problem(scope, headers)
        if problem is not None:
            status, code, message = problem
            logger.warning("refused %s %s: %s", scope.get("method", "WS"), scope["path"], message)
            await _refuse(scope, send, status, code, message)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _with_headers(send, _is_console(scope["path"])))

    def _problem(self, scope: Scope, headers: Headers) -> tuple[int, str, str] | None:
        if scope["path"] not in PROBE_PATHS and not self._host_allowed(headers.get("host", "")):
            return 400, "untrusted_host", "this service does not answer to that host name"
        writes = scope["type"] == "websocket" or scope.get("method") not in SAFE_METHODS
        origin = headers.get("origin")
        if writes and origin is not None and not self._origin_allowed(origin, headers):
            return 403, "cross_origin", "requests from another site's pages are refused"
        return None

    def _host_allowed(self, host_header: str) -> bool:
        if self.any_host:
            return True
        host = host_name(host_header)
        return host in self.hosts or any(host.endswith(s) for s in self.host_suffixes)

    def _origin_allowed(self, origin: str, headers: Headers) -> bool:
        origin = origin.strip().lower()
        if origin in self.origins:
            return True
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        # Same origin: the page was served by this host (and port) itself.
        host = headers.get("host", "").strip().lower()
        return parts.scheme in ("http", "https") and parts.netloc == host


def _is_console(path: str) -> bool:
    return path == "/" or path.startswith("/ui")


def _with_headers(send: Send, console: bool) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in _COMMON_HEADERS.items():
                headers.setdefault(name, value)
            if console:
                headers.setdefault("Content-Security-Policy", CONSOLE_CSP)
        await send(message)

    return send_with_headers


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    if scope["type"] == "websocket":
        # Before the handshake is accepted: the server answers the upgrade with 403.
        await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
        return
    body = json.dumps({"detail": message, "code": code}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *((k.lower().encode(), v.encode()) for k, v in _COMMON_HEADERS.items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
