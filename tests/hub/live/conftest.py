"""A hub served by uvicorn on a free port (the live stream is real HTTP), and a small
server-sent events client reading it on a thread."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from hub.app import create_app
from hub.clock import FrozenClock
from hub.live.api import close_streams
from hub.seed import DemoData
from hub.settings import Settings
from tests.support.net import free_port
from tests.support.waiting import wait_until


@dataclass
class Served:
    url: str
    app: FastAPI


@pytest.fixture
def live_hub(settings: Settings, clock: FrozenClock, demo: DemoData) -> Iterator[Served]:
    port = free_port()
    app = create_app(settings=settings, clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until("uvicorn to start", lambda: server.started, timeout=30)
    try:
        yield Served(f"http://127.0.0.1:{port}", app)
    finally:
        close_streams(app)
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive(), "uvicorn did not stop"
        app.state.engine.dispose()


@dataclass
class Event:
    type: str
    data: dict
    id: str | None
    at: float  # time.time() when it arrived


@dataclass
class Stream:
    """One ``GET /api/live`` read on a thread: every event as it arrives, the raw text."""

    url: str
    headers: dict[str, str]
    cookies: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    status: int | None = None
    closed: threading.Event = field(default_factory=threading.Event)
    _errors: queue.Queue = field(default_factory=queue.Queue)
    _res: httpx.Response | None = None

    def start(self) -> Stream:
        threading.Thread(target=self._read, daemon=True).start()
        wait_until("the stream to open", lambda: self.status is not None or self.closed.is_set())
        return self

    def _read(self) -> None:
        try:
            with httpx.Client(cookies=self.cookies, timeout=httpx.Timeout(5, read=60)) as http:
                with http.stream("GET", self.url + "/api/live", headers=self.headers) as res:
                    self._res = res
                    self.status = res.status_code
                    fields: dict[str, str] = {}
                    for line in res.iter_lines():
                        self.raw.append(line)
                        if line == "":
                            if "data" in fields:
                                data = json.loads(fields["data"])
                                ev = Event(
                                    fields.get("event", "message"),
                                    data,
                                    fields.get("id"),
                                    time.time(),
                                )
                                self.events.append(ev)
                            fields = {}
                        elif not line.startswith(":"):
                            name, _, value = line.partition(":")
                            fields[name] = value.removeprefix(" ")
        except httpx.HTTPError as exc:  # the server went away: recorded, not raised
            self._errors.put(exc)
        finally:
            self.closed.set()

    def stop(self) -> None:
        """Close the connection from this side (a tab closed, a network drop). The reader
        thread is blocked in a read that closing the response from here would not wake (it
        would sit until the next keep-alive): the socket is shut down under it."""
        network = self._res.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # already gone
                pass
        self._res.close()
        assert self.closed.wait(10), "the stream's reader did not stop"

    def of(self, type_: str) -> list[Event]:
        return [e for e in self.events if e.type == type_]

    def wait(self, what: str, probe, timeout: float = 10):
        return wait_until(what, probe, timeout=timeout, detail=lambda: self.raw[-20:])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
