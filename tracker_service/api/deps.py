"""Dependencies shared by the routers: the services (the API key is in `auth.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
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
