"""The operator console (``/console``: sign-in, then the case views, hub/console/static) and
the OpenAPI pages ``/docs`` and ``/redoc``, all served from files in this package: the
console's own and the vendored Swagger UI and Redoc (hub/console/vendor, ``make assets``), so
nothing comes from a CDN and the pages work without internet."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(tags=["console"])

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
VENDOR_DIR = HERE / "vendor"
PAGE = STATIC_DIR / "index.html"
STATIC_URL = "/console/static"
VENDOR_URL = "/console/vendor"

# The console runs only its own files: no inline script, nothing from elsewhere, no framing.
CONSOLE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def mount_assets(app: FastAPI) -> None:
    """Serve the console's static files and the vendored libraries (called by the app)."""
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="console-static")
    app.mount(VENDOR_URL, StaticFiles(directory=VENDOR_DIR), name="console-vendor")


# Swagger UI starts from FastAPI's inline init script: the page's CSP allows exactly that
# script by its SHA-256 (no 'unsafe-inline' for scripts), and nothing may come from elsewhere,
# so the browser never even asks a CDN (Redoc's "API docs by Redocly" logo is one, hidden).
DOCS_CSP = (
    "default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
DOCS_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"}
HIDE_REDOCLY_LOGO = "<style>a[href*='redocly'], a[href*='redoc.ly'] { display: none }</style>"
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def script_hashes(body: str) -> list[str]:
    """CSP sources allowing each inline ``<script>`` of ``body`` (and nothing else)."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in INLINE_SCRIPT.findall(body)
    ]


def _with_headers(page: HTMLResponse, extra_head: str = "") -> HTMLResponse:
    body = bytes(page.body).decode("utf-8")
    if extra_head:
        body = body.replace("</head>", extra_head + "</head>", 1)
    hashes = "".join(" " + h for h in script_hashes(body))
    csp = {"Content-Security-Policy": DOCS_CSP.format(hashes=hashes)}
    return HTMLResponse(body, headers={**csp, **DOCS_HEADERS})


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/console")


@router.get("/console", response_class=HTMLResponse, include_in_schema=False)
def console() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers=CONSOLE_HEADERS)


@router.get("/docs", include_in_schema=False)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over this hub's OpenAPI document, from the vendored swagger-ui-dist."""
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} · API",
        swagger_js_url=f"{VENDOR_URL}/swagger-ui-dist/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR_URL}/swagger-ui-dist/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR_URL}/swagger-ui-dist/favicon-32x32.png",
        # tags listed, each opened on a click: with every one of the ~140 operations open at
        # once, Swagger UI 5.35 stopped rendering part-way in Chromium (measured: 7-12 shown)
        swagger_ui_parameters={"docExpansion": "none"},
    )
    return _with_headers(page)


@router.get("/redoc", include_in_schema=False)
def redoc(request: Request) -> HTMLResponse:
    """Redoc over this hub's OpenAPI document, from the vendored redoc (no web fonts)."""
    page = get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} · API reference",
        redoc_js_url=f"{VENDOR_URL}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{VENDOR_URL}/swagger-ui-dist/favicon-32x32.png",
        with_google_fonts=False,
    )
    return _with_headers(page, HIDE_REDOCLY_LOGO)
