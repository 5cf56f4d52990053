"""Dependencies shared by the routers: the services, and the optional API key."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, WebSocketException
from starlette.requests import HTTPConnection

from tracker_service.api.errors import ApiError
from tracker_service.api.services import Services


def get_services(request: HTTPConnection) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is not None:
        return services
    error: str | None = getattr(request.app.state, "load_error", None)
    if error:
        raise ApiError(503, "not_ready", f"the service could not start its models: {error}")
    raise ApiError(
        503, "not_ready", "models are still loading; retry shortly", headers={"Retry-After": "5"}
    )


ServicesDep = Annotated[Services, Depends(get_services)]


def _presented_key(request: HTTPConnection) -> str | None:
    header = request.headers.get("x-api-key")
    if header:
        return header
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    # Browsers cannot set headers on <img>/<video>/WebSocket: allow ?api_key= there.
    return request.query_params.get("api_key")


def require_api_key(request: HTTPConnection) -> None:
    expected: str | None = request.app.state.config.service.api_key
    if not expected:
        return
    presented = _presented_key(request)
    if presented is None or not hmac.compare_digest(presented.encode(), expected.encode()):
        if request.scope["type"] == "websocket":
            raise WebSocketException(code=1008, reason="missing or wrong API key")
        raise ApiError(
            401,
            "unauthorized",
            "missing or wrong API key (send X-API-Key or Authorization: Bearer)",
            headers={"WWW-Authenticate": "Bearer"},
        )
