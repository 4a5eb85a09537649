"""`/docs`: Swagger UI served from the api itself, so it works without internet access.

FastAPI's own `/docs` page loads Swagger UI's script and stylesheet from a CDN,
which leaves the page blank on an offline or intranet deployment. Here the
files come from the `swagger-ui-bundle-v2` package (the Swagger UI 5 release
files, which read OpenAPI 3.1) and are served under `/docs/assets`. ReDoc is
off rather than loaded from a CDN: one documentation page is enough.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # no py.typed

DOCS = "/docs"
ASSETS = "/docs/assets"
REDIRECT = "/docs/oauth2-redirect"


def serve_docs(app: FastAPI) -> None:
    """Add `/docs`, its OAuth2 redirect page and Swagger UI's files to `app`.

    Build `app` with `docs_url=None, redoc_url=None`, so FastAPI adds no CDN pages.
    """
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get(DOCS, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        # Behind a proxy that strips a prefix, root_path keeps the links right.
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - docs",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
            oauth2_redirect_url=f"{root}{REDIRECT}")

    @app.get(REDIRECT, include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
