"""The app factory: `create_app(config)` -> FastAPI.

The lifespan loads the models and opens the gallery once, in a background thread, so that
`/healthz` answers at once and `/readyz` says when the service can take work (or why it
cannot: a missing model file is reported there and in every `/v1` answer, and the process
stays up for an operator to see it). On shutdown streams and jobs stop and the gallery is
written.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from tracker_service.api import auth
from tracker_service.api.auth import require_api_key
from tracker_service.api.errors import install_error_handlers
from tracker_service.api.guard import RequestGuard
from tracker_service.api.logs import log_requests
from tracker_service.api.metrics import build_registry
from tracker_service.api.routes import (
    docs,
    events,
    health,
    identities,
    jobs,
    rules,
    streams,
    ui,
    zones,
)
from tracker_service.api.services import Services, build_services
from tracker_service.config import Config
from tracker_service.postgres import DatabaseUnavailableError

logger = logging.getLogger(__name__)
API_PREFIX = "/v1"
DATABASE_RETRY_S = 1.0
DATABASE_RETRY_MAX_S = 30.0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _load(app: FastAPI, config: Config, stop: threading.Event) -> None:
    delay = DATABASE_RETRY_S
    while True:
        try:
            app.state.services = build_services(config)
            app.state.waiting_for = None
            return
        except DatabaseUnavailableError as exc:  # shared database away: wait for it
            app.state.waiting_for = str(exc)
            logger.warning("%s; trying again in %.0f s", exc, delay)
            if stop.wait(delay):
                return
            delay = min(2 * delay, DATABASE_RETRY_MAX_S)
        except Exception as exc:  # any failure is reported by /readyz and every /v1 answer
            logger.error("service cannot start its models: %s", exc)
            app.state.load_error = f"{type(exc).__name__}: {exc}"
            return


def create_app(config: Config, services: Services | None = None) -> FastAPI:
    """The service for `config`; pass prebuilt `services` to skip loading (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not config.service.api_key and not _is_loopback(config.service.host):
            logger.warning(
                "listening on %s without an API key: anyone who can reach it can use it "
                "(set TRACKER_API_KEY)",
                config.service.host,
            )
        if not config.service.api_key and "*" in (config.service.allowed_hosts or []):
            logger.warning(
                "service.allowed_hosts is '*' without an API key: pages of any site can reach "
                "this service through DNS rebinding (set TRACKER_API_KEY)"
            )
        loader: threading.Thread | None = None
        stopping = threading.Event()
        if app.state.services is None:
            loader = threading.Thread(
                target=_load, args=(app, config, stopping), name="load-models"
            )
            loader.start()
        try:
            yield
        finally:
            stopping.set()
            if loader is not None:
                await asyncio.to_thread(loader.join)
            if app.state.services is not None:
                await asyncio.to_thread(app.state.services.close)

    app = FastAPI(
        title="tracker-service",
        version="0.1.0",
        summary="Real-time person tracking with identities shared across cameras.",
        lifespan=lifespan,
        docs_url=None,  # served by routes.docs from local assets, not a CDN
        redoc_url=None,
    )
    app.state.config = config
    app.state.services = services
    app.state.load_error = None
    app.state.waiting_for = None
    app.state.registry = build_registry(lambda: app.state.services)
    install_error_handlers(app)
    app.middleware("http")(log_requests)
    # Outermost: untrusted hosts and cross-site writes never reach a route (guard.py).
    app.add_middleware(RequestGuard, config=config.service)
    app.include_router(health.router)
    app.include_router(auth.router, prefix=API_PREFIX)
    protected = [Depends(require_api_key)]
    routers = (jobs, streams, zones, identities, events, rules)
    for router in (module.router for module in routers):
        app.include_router(router, prefix=API_PREFIX, dependencies=protected)
    ui.mount(app)
    docs.mount(app)
    return app
