"""``GET /api/live``: the console's server-sent events (contract: hub/console/static/live.js).

The stream opens with ``retry:``, replays what a ``Last-Event-ID`` says was missed (a cursor
at most ``feed.RESUME_WINDOW`` old, and only rows written within it; ``feed.RESUME_LIMIT``
events per source), then sends each new event the caller may see, a keep-alive comment every
``KEEPALIVE_S`` carrying the stream's own cursor, and ends with an ``end`` event when the
session ends, the hub stops, or the client falls behind. The cursor is made only of the ids
of events this caller was sent (0 for a source it has none of), so it reveals nothing of
another area's rows.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from hub.auth.deps import CurrentUser
from hub.auth.models import Role
from hub.auth.service import require_roles
from hub.clock import Clock, from_unix
from hub.live.feed import RESUME_WINDOW, End, Feed, Resume, Subscriber
from hub.live.sources import SOURCES, LiveEvent

router = APIRouter(prefix="/api", tags=["live"])

KEEPALIVE_S: Final = 15.0
RETRY_MS: Final = 2000
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


def parse_cursor(raw: str | None, now: float) -> Resume | None:
    """A ``Last-Event-ID`` (``<unix time>-<case>-<transition>-<alarm>-<device>``) as each
    source's last delivered id; None when absent, malformed or older than the resume window
    (``now``: the hub's clock)."""
    if not raw or not _CURSOR.match(raw):
        return None
    at, *ids = (int(part) for part in raw.split("-"))
    if not now - RESUME_WINDOW.total_seconds() <= at <= now + 60:
        return None
    return Resume(dict(zip(SOURCES, ids, strict=True)), from_unix(at))


def format_cursor(cursor: dict[str, int], clock: Clock) -> str:
    return "-".join([str(int(clock.now().timestamp())), *(str(cursor[n]) for n in SOURCES)])


def _event(ev: LiveEvent, cursor: str) -> str:
    data = json.dumps(ev.data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {cursor}\nevent: {ev.type}\ndata: {data}\n\n"


def _end(end: End) -> str:
    data = json.dumps({"code": end.code, "message": end.reason}, separators=(",", ":"))
    return f"event: end\ndata: {data}\n\n"


async def _stream(
    feed: Feed, sub: Subscriber, backlog: list[LiveEvent], resume: Resume | None
) -> AsyncIterator[str]:
    try:
        yield f"retry: {RETRY_MS}\n: gridlink live\n\n"
        # the stream's own cursor: it moves only with the events sent on it (a resumed stream
        # goes on from the client's ids), event by event, so a drop resumes from there
        cursor = dict(resume.ids) if resume else dict.fromkeys(SOURCES, 0)
        for ev in backlog:
            cursor[ev.type] = max(cursor[ev.type], ev.row_id)
            yield _event(ev, format_cursor(cursor, feed.clock))
        while True:
            try:
                item = await asyncio.wait_for(sub.queue.get(), timeout=KEEPALIVE_S)
            except TimeoutError:
                # an id with no data keeps the browser's Last-Event-ID inside the resume window
                yield f"id: {format_cursor(cursor, feed.clock)}\n: keep-alive\n\n"
                continue
            if isinstance(item, End):
                yield _end(item)
                return
            cursor[item.type] = max(cursor[item.type], item.row_id)
            yield _event(item, format_cursor(cursor, feed.clock))
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
        ``end`` when the stream ends. ``Last-Event-ID`` resumes within 10 minutes (rows written
    within them). At most 8
        streams per console session (or token) in this process. Operators, admins and units
        (units get the case events of their own cases only)."""
    require_roles(user, Role.admin, Role.operator, Role.unit)
    feed = feed_of(request.app)
    resume = parse_cursor(request.headers.get("last-event-id"), feed.clock.now().timestamp())
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
    sub, backlog = opened
    return StreamingResponse(
        _stream(feed, sub, backlog, resume),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        # also when the client left before the stream started (unsubscribe is idempotent)
        background=BackgroundTask(feed.unsubscribe, sub),
    )
