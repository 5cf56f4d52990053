"""The OpenAPI docs at `/docs`, with Swagger UI served from this service, not a CDN.

FastAPI's default page loads Swagger UI from jsDelivr: blank on an air-gapped site (common
for CCTV). The assets come from the `swagger-ui-bundle-v2` package (Swagger UI 5, which
renders OpenAPI 3.1) and are mounted at `/docs/assets`. ReDoc has no packaged copy, so
`/redoc` is off.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"


def mount(app: FastAPI) -> None:
    """Serve `/docs` and its assets; the app must be made with `docs_url=None`."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )
