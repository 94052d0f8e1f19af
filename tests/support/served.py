"""A hub app served over HTTP by uvicorn on a free loopback port, for browser tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from hub.live.api import close_streams
from tests.support.net import free_port
from tests.support.waiting import wait_until


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app``; yields its base URL. On exit its live streams end first (an open stream
    would keep uvicorn waiting), then the server, then the app's engine."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until("uvicorn to start", lambda: server.started, timeout=30)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        close_streams(app)
        server.should_exit = True
        thread.join(10)
        app.state.engine.dispose()
