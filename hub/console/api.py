"""The operator console: one static page that talks to the REST API with the operator's token."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

router = APIRouter(tags=["console"])

PAGE = Path(__file__).with_name("index.html")


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/console")


@router.get("/console", response_class=HTMLResponse, include_in_schema=False)
def console() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))
