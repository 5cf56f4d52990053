"""Liveness, readiness and metrics (never behind the API key: probes and scrapers call them)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tracker_service.reid.gallery import GalleryError

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Models are loaded and the service can take work")
def readyz(request: Request) -> JSONResponse:
    services = getattr(request.app.state, "services", None)
    if services is not None:
        info = services.models.embedder_info
        try:
            identities = len(services.gallery)  # with a shared gallery: a query, a probe
        except GalleryError:
            identities = None
        offline = getattr(services.gallery, "offline_reason", None)
        if offline:  # streams go on tracking; identities and shared jobs wait for it
            return JSONResponse({"status": "degraded", "detail": offline}, status_code=503)
        return JSONResponse(
            {
                "status": "ready",
                "detector": services.config.detector.model,
                "embedder": {"backend": info.backend, "model": info.model_path, "dim": info.dim},
                "identities": identities,
            }
        )
    error = getattr(request.app.state, "load_error", None)
    waiting = getattr(request.app.state, "waiting_for", None)
    if waiting and not error:
        body = {"status": "waiting", "detail": f"{waiting}; retrying"}
        return JSONResponse(body, status_code=503)
    body = {"status": "failed" if error else "loading", "detail": error or "models are loading"}
    return JSONResponse(body, status_code=503)


@router.get("/metrics", summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
