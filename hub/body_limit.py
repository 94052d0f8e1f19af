"""Routes that read at most N bytes of request body before FastAPI parses it: 413
(``TooLargeError``) by the declared Content-Length, or as the body arrives when there is none
(chunked). ``router = APIRouter(route_class=limited_route(4096))``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message

from hub.errors import TooLargeError


def limited_route(max_bytes: int) -> type[APIRoute]:
    too_large = f"the request body is too large: at most {max_bytes} bytes"

    class LimitedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def limited(request: Request) -> Response:
                declared = request.headers.get("content-length")
                if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
                    raise TooLargeError(too_large)
                body = bytearray()
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > max_bytes:
                        raise TooLargeError(too_large)
                replayed = False

                async def receive() -> Message:
                    nonlocal replayed
                    if replayed:
                        return await request.receive()
                    replayed = True
                    return {"type": "http.request", "body": bytes(body), "more_body": False}

                return await handler(Request(request.scope, receive))

            return limited

    return LimitedRoute
