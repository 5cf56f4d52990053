"""The HTTP service: FastAPI app factory, one router per resource."""

from tracker_service.api.app import create_app

__all__ = ["create_app"]
