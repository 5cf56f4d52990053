"""Liveness, readiness and metrics (never behind the API key: probes and scrapers call them)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Models are loaded and the service can take work")
def readyz(request: Request) -> JSONResponse:
    services = getattr(request.app.state, "services", None)
    if services is not None:
        info = services.models.embedder_info
        return JSONResponse(
            {
                "status": "ready",
                "detector": services.config.detector.model,
                "embedder": {"backend": info.backend, "model": info.model_path, "dim": info.dim},
                "identities": len(services.gallery),
            }
        )
    error = getattr(request.app.state, "load_error", None)
    body = {"status": "failed" if error else "loading", "detail": error or "models are loading"}
    return JSONResponse(body, status_code=503)


@router.get("/metrics", summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
