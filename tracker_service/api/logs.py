"""Structured logging: plain text or one JSON object a line, with a request id per request."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

access_logger = logging.getLogger("tracker_service.access")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}
# Secrets that may ride in a URL's query (older clients' ?api_key=, tokens of any kind).
_SECRET_IN_QUERY = re.compile(
    r"(?i)\b((?:api[_-]?key|access[_-]?token|token|password|secret|session)=)[^&\s\"']+"
)


def redact_secrets(text: str) -> str:
    """`text` with the values of secret-looking query parameters replaced by ***."""
    return _SECRET_IN_QUERY.sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    """Last line of defence: no log line carries a secret from a URL, whoever logs it
    (uvicorn logs WebSocket paths with their query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {k: v for k, v in vars(record).items() if k not in _RESERVED}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


async def log_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Log each request once, with its id (also returned as X-Request-ID), status and time."""
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:12]
    started = time.perf_counter()
    response = await call_next(request)
    response.headers["X-Request-ID"] = request_id
    if request.url.path not in ("/healthz", "/metrics"):
        access_logger.info(
            "%s %s %d",
            request.method,
            request.url.path,
            response.status_code,
            extra={
                "request_id": request_id,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
    return response
