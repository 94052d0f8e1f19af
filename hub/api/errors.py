"""Turn hub exceptions and framework errors into JSON ``{code, message}`` responses, and say so
in the OpenAPI document (every operation's 422 and ``default`` response is ``Error``)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub import errors
from hub.ota.errors import OtaError

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: list[tuple[type[errors.HubError], int]] = [
    (errors.NotFoundError, 404),
    (errors.InvalidInputError, 422),
    (errors.ConflictError, 409),
    (errors.AuthenticationError, 401),
    (errors.PermissionDeniedError, 403),
    (errors.TransitionError, 409),
    (errors.EvidenceError, 422),
    (errors.BusyError, 429),
    (errors.TooLargeError, 413),
]


class Error(BaseModel):
    """Every error the API answers: a stable ``code``, a human ``message``, maybe ``details``."""

    code: str
    message: str
    details: dict[str, Any] | None = None


def status_for(exc: errors.HubError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 400


def error_body(code: str, message: str, **details: object) -> dict[str, object]:
    body: dict[str, object] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return body


async def _hub_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.HubError)
    status = status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, errors.BusyError):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return JSONResponse(
        error_body(exc.code, exc.message, **exc.details), status_code=status, headers=headers
    )


async def _ota_error(_request: Request, exc: Exception) -> JSONResponse:
    """The OTA API's errors also carry ``detail`` (the message; docs/ota.md, "API")."""
    assert isinstance(exc, errors.HubError)
    body = error_body(exc.code, exc.message, **exc.details)
    body["detail"] = exc.message
    return JSONResponse(body, status_code=status_for(exc))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
    )
    return JSONResponse(error_body("invalid_input", problems or "invalid request"), 422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
    return JSONResponse(
        error_body(code.get(exc.status_code, "http_error"), str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error: %s", exc)
    return JSONResponse(error_body("internal_error", "internal server error"), 500)


def _document_errors(app: FastAPI) -> None:
    """FastAPI documents its own 422 body (``HTTPValidationError``, a ``detail`` list); ours is
    ``Error``. Replace it, and add ``Error`` as every operation's ``default`` response."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        components["Error"] = Error.model_json_schema(ref_template="#/components/schemas/{model}")
        error = {
            "description": "Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = {**error, "description": "Invalid input"}
                responses.setdefault("default", error)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.HubError, _hub_error)
    app.add_exception_handler(OtaError, _ota_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    _document_errors(app)
