"""``GET /api/live``: the console's server-sent events (contract: hub/console/static/live.js).

The stream opens with ``retry:``, replays what a ``Last-Event-ID`` says was missed (at most
``RESUME_WINDOW_S`` old, ``feed.RESUME_LIMIT`` events per source), then sends each new event
the caller may see, a keep-alive comment every ``KEEPALIVE_S`` (carrying the cursor), and ends
with an ``end`` event when the session ends, the hub stops, or the client falls behind.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from hub.auth.deps import CurrentUser
from hub.auth.models import Role
from hub.auth.service import require_roles
from hub.live.feed import End, Feed, Position, Subscriber
from hub.live.sources import SOURCES, LiveEvent

router = APIRouter(prefix="/api", tags=["live"])

KEEPALIVE_S: Final = 15.0
RETRY_MS: Final = 2000
RESUME_WINDOW_S: Final = 600
MAX_STREAMS_PER_SESSION: Final = 8
_CURSOR = re.compile(r"^(\d{1,12})(?:-(\d{1,18})){4}$")


def feed_of(app: FastAPI) -> Feed:
    """The app's feed (made on first use; one poller per process)."""
    feed: Feed | None = getattr(app.state, "live_feed", None)
    if feed is None:
        feed = Feed(
            session_factory=app.state.session_factory,
            settings=app.state.settings,
            clock=app.state.clock,
        )
        app.state.live_feed = feed
    return feed


def close_streams(app: FastAPI) -> None:
    """End every live stream of ``app`` and stop its poller (before the server stops: an open
    stream would keep uvicorn waiting)."""
    feed: Feed | None = getattr(app.state, "live_feed", None)
    if feed is not None:
        feed.close()


def parse_cursor(raw: str | None, now: float) -> dict[str, int] | None:
    """A ``Last-Event-ID`` (``<unix time>-<case>-<transition>-<alarm>-<device>``) as each
    source's last delivered id; None when absent, malformed or older than the resume window."""
    if not raw or not _CURSOR.match(raw):
        return None
    at, *ids = (int(part) for part in raw.split("-"))
    if not now - RESUME_WINDOW_S <= at <= now + 60:
        return None
    return dict(zip(SOURCES, ids, strict=True))


def format_cursor(position: dict[str, int], now: float) -> str:
    return "-".join([str(int(now)), *(str(position[name]) for name in SOURCES)])


def _event(ev: LiveEvent, cursor: str) -> str:
    data = json.dumps(ev.data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {cursor}\nevent: {ev.type}\ndata: {data}\n\n"


def _end(end: End) -> str:
    data = json.dumps({"code": end.code, "message": end.reason}, separators=(",", ":"))
    return f"event: end\ndata: {data}\n\n"


async def _stream(
    feed: Feed,
    sub: Subscriber,
    backlog: list[LiveEvent],
    start: dict[str, int],
    resume: dict[str, int] | None,
) -> AsyncIterator[str]:
    try:
        yield f"retry: {RETRY_MS}\n: gridlink live\n\n"
        # while replaying, the cursor moves event by event: a drop mid-way resumes from there
        position = {n: min(resume.get(n, start[n]), start[n]) for n in SOURCES} if resume else start
        for ev in backlog:
            position[ev.type] = max(position[ev.type], ev.row_id)
            yield _event(ev, format_cursor(position, time.time()))
        moved = position != start
        position = {n: max(position[n], start[n]) for n in SOURCES}
        while True:
            try:
                item = await asyncio.wait_for(sub.queue.get(), timeout=KEEPALIVE_S)
            except TimeoutError:
                # an id with no data moves the browser's Last-Event-ID without an event
                head = f"id: {format_cursor(position, time.time())}\n" if moved else ""
                moved = False
                yield f"{head}: keep-alive\n\n"
                continue
            if isinstance(item, End):
                yield _end(item)
                return
            if isinstance(item, Position):
                for name, row_id in item.ids.items():
                    if row_id > position[name]:
                        position[name] = row_id
                        moved = True
                continue
            position[item.type] = max(position[item.type], item.row_id)
            yield _event(item, format_cursor(position, time.time()))
    finally:
        feed.unsubscribe(sub)


@router.get(
    "/live",
    response_class=StreamingResponse,
    response_model=None,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "the event stream"},
        429: {"description": "this session has the most live streams allowed open"},
        503: {"description": "the hub is stopping"},
    },
)
async def live(request: Request, user: CurrentUser) -> StreamingResponse | JSONResponse:
    """Server-sent events for the caller's scope: ``case`` (a new case), ``transition`` (a
    case moved), ``alarm`` (a live gate alarm), ``device`` (a device went online / offline);
    ``end`` when the stream ends. ``Last-Event-ID`` resumes within 10 minutes. At most 8
    streams per console session (or token) in this process. Operators, admins and units
    (units get the case events of their own cases only)."""
    require_roles(user, Role.admin, Role.operator, Role.unit)
    feed = feed_of(request.app)
    resume = parse_cursor(request.headers.get("last-event-id"), time.time())
    loop = asyncio.get_running_loop()
    try:
        opened = await run_in_threadpool(
            feed.subscribe, user, loop, resume, MAX_STREAMS_PER_SESSION
        )
    except RuntimeError:
        return JSONResponse(
            {"code": "unavailable", "message": "the hub is stopping: reconnect in a moment"},
            status_code=503,
        )
    if opened is None:
        return JSONResponse(
            {
                "code": "too_many_streams",
                "message": f"at most {MAX_STREAMS_PER_SESSION} live streams per session: "
                "close another console tab",
            },
            status_code=429,
        )
    sub, backlog, position = opened
    return StreamingResponse(
        _stream(feed, sub, backlog, position, resume),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        # also when the client left before the stream started (unsubscribe is idempotent)
        background=BackgroundTask(feed.unsubscribe, sub),
    )
