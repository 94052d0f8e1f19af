"""NUL characters refused at the door. PostgreSQL can neither store nor compare a NUL in
text, so a ``%00`` in a path or query parameter, or a ``\\u0000`` in a JSON body, would reach
the database as a 500 (SQLite would quietly compare it). Every such request is a 422
``invalid_input`` before any route runs, whichever field carries it.

A pure ASGI middleware (not ``BaseHTTPMiddleware``): streamed answers (the live events) pass
through untouched. A JSON body is read whole only to be checked, then handed on as it came;
the routes that take JSON cap their bodies far below anything that matters here."""

from __future__ import annotations

import re
from typing import Any

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.errors import error_body

# \u0000 in JSON, but not an escaped backslash followed by "u0000" (\\u0000 is 6 characters)
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _refusal(where: str) -> JSONResponse:
    return JSONResponse(
        error_body("invalid_input", f"a NUL character in the {where} is not allowed"), 422
    )


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


class RefuseNul:
    """The middleware: ``app.add_middleware(RefuseNul)``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", ""):
            await _refusal("address")(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        if b"\x00" in query or b"%00" in query:
            await _refusal("query")(scope, receive, send)
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if b"\x00" in body or _JSON_NUL.search(body):
            await _refusal("request body")(scope, receive, send)
            return
        replay = iter(messages)

        async def again() -> Any:
            return next(replay, None) or await receive()

        await self.app(scope, again, send)
