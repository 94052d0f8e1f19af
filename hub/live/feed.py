"""One poller per process fanning the database's changes out to the open live streams.

A daemon thread reads the four sources (``hub.live.sources``) every ``POLL_S`` in one short
transaction, whatever the number of streams, and hands each new event to every subscriber
whose principal may see it (``sources.visible``). Rows are read past a *low-water mark* per
source: the highest id seen at least ``GRACE_S`` ago. Rows above it are read again each poll
and the ones already delivered skipped, so a row whose transaction commits after a row with a
higher id (PostgreSQL assigns ids at insert, not at commit) is still delivered.

Every ``SESSION_CHECK_S`` one query checks the subscribers' console sessions and tokens: a
session that ended (sign-out, expiry, idleness, its token revoked) or a revoked token ends its
streams. ``close()`` ends every stream (hub shutdown). Rows of ``device_presence`` older than
``PRESENCE_KEEP`` are deleted once an hour.

A stream learns nothing of a row it may not see, not even that one exists: its cursor is made
of the ids it was sent (``Resume``), and a resume replays only the principal's rows written
within ``RESUME_WINDOW`` by the hub's clock.

Subscribers are asyncio queues: the thread puts with ``loop.call_soon_threadsafe``. A queue
that fills (a client that does not read) ends its stream; the browser reconnects and resumes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hub.auth.models import ApiToken, ConsoleSession
from hub.auth.service import Principal
from hub.clock import Clock
from hub.devices.models import DevicePresence
from hub.live import sources
from hub.live.sources import SOURCES, LiveEvent
from hub.settings import Settings

logger = logging.getLogger(__name__)

POLL_S: Final = 0.5
GRACE_S: Final = 10.0  # a transaction committing later than this after its insert is missed
SESSION_CHECK_S: Final = 3.0
POLL_LIMIT: Final = 500  # rows per source and poll
RESUME_LIMIT: Final = 500  # events per source replayed on a resume
RESUME_WINDOW: Final = timedelta(minutes=10)  # a resume replays rows written since, at most
# A source a stream has delivered nothing of yet (id 0): a resume replays its rows written
# since the cursor, less this margin (a row's time is set before its transaction commits).
RESUME_SLACK: Final = timedelta(seconds=GRACE_S + 20)
QUEUE_LIMIT: Final = 2000  # events waiting for one stream before it is ended
PRESENCE_KEEP: Final = timedelta(days=30)
CLEANUP_EVERY_S: Final = 3600.0


class End:
    """Put in a subscriber's queue: the stream ends, saying why."""

    def __init__(self, reason: str, code: str) -> None:
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class Resume:
    """A ``Last-Event-ID``: each source's last id the stream delivered (0: none of its own yet)
    and when the cursor was written (the hub's clock)."""

    ids: dict[str, int]
    at: datetime


SESSION_ENDED = End("the session has ended: sign in again", "session_ended")
SHUTDOWN = End("the hub is stopping", "shutdown")
TOO_SLOW = End("the stream fell behind: reconnect to resume", "overflow")


@dataclass(eq=False)
class Subscriber:
    principal: Principal
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[LiveEvent | End] = field(default_factory=asyncio.Queue)
    ended: bool = False

    def push(self, item: LiveEvent | End) -> None:  # on the event loop
        if self.ended:
            return
        if isinstance(item, End):
            self.ended = True
        elif self.queue.qsize() >= QUEUE_LIMIT:
            self.ended = True
            item = TOO_SLOW
        self.queue.put_nowait(item)


class _Tail:
    """One source's reading position: the low-water mark and the ids delivered above it."""

    def __init__(self, start: int) -> None:
        self.low = start
        self.high = start
        self.seen: dict[int, float] = {}  # id -> monotonic time first delivered

    def fresh(self, events: Iterable[LiveEvent], now: float) -> list[LiveEvent]:
        out = []
        for ev in events:
            if ev.row_id <= self.low or ev.row_id in self.seen:
                continue
            self.seen[ev.row_id] = now
            self.high = max(self.high, ev.row_id)
            out.append(ev)
        return out

    def advance(self, now: float) -> None:
        settled = [i for i, at in self.seen.items() if at <= now - GRACE_S]
        if settled:
            self.low = max(self.low, max(settled))
            self.seen = {i: at for i, at in self.seen.items() if i > self.low}

    def delivered(self, row_id: int) -> bool:
        """Has the poller delivered (or passed) this row? (A resume replays only those.)"""
        return row_id <= self.low or row_id in self.seen


class Feed:
    """The process's poller and its subscribers."""

    def __init__(
        self, *, session_factory: sessionmaker[Session], settings: Settings, clock: Clock
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._subscribers: set[Subscriber] = set()
        self._tails: dict[str, _Tail] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = False

    # --- subscribers (called from the event loop's worker threads) -----------------------------

    def subscribe(
        self,
        principal: Principal,
        loop: asyncio.AbstractEventLoop,
        resume: Resume | None,
        limit: int,
    ) -> tuple[Subscriber, list[LiveEvent]] | None:
        """Register a stream; returns it and the events to replay after ``resume`` (those the
        principal may see, written within ``RESUME_WINDOW``); None when the principal already
        has ``limit`` streams. Raises RuntimeError once the feed is closed."""
        self._start()
        with self._lock:
            if self._closed:
                raise RuntimeError("the live feed is closed")
            key = stream_key(principal)
            if sum(1 for s in self._subscribers if stream_key(s.principal) == key) >= limit:
                return None
            assert self._tails is not None
            position = {name: tail.high for name, tail in self._tails.items()}
            backlog: list[LiveEvent] = []
            if resume is not None:
                backlog = self._backlog(principal, resume, position)
            sub = Subscriber(principal=principal, loop=loop)
            self._subscribers.add(sub)
        return sub, backlog

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    def _backlog(
        self, principal: Principal, resume: Resume, position: dict[str, int]
    ) -> list[LiveEvent]:
        """What ``resume`` missed: the principal's rows above its ids, up to ``position`` (the
        rows the poller has reached), written within the window by the hub's clock (whatever
        time the client's cursor claims)."""
        assert self._tails is not None
        oldest = self.clock.now() - RESUME_WINDOW
        out: list[LiveEvent] = []
        with self.session_factory() as db_session:
            for name in SOURCES:
                after = resume.ids[name]
                if after >= position[name]:
                    continue
                since = oldest if after else max(oldest, resume.at - RESUME_SLACK)
                tail = self._tails[name]
                events = sources.read_after(
                    db_session=db_session,
                    source=name,
                    after_id=after,
                    upto_id=position[name],
                    limit=RESUME_LIMIT,
                    principal=principal,
                    since=since,
                )
                out += [
                    e for e in events if tail.delivered(e.row_id) and sources.visible(principal, e)
                ]
        return out

    # --- the poller thread ---------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            with self.session_factory() as db_session:
                newest = sources.newest_ids(db_session=db_session)
            self._tails = {name: _Tail(newest[name]) for name in SOURCES}
            self._thread = threading.Thread(target=self._run, name="live-feed", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        last_check = last_cleanup = 0.0
        while not self._stop.wait(POLL_S):
            try:
                self._poll()
                now = time.monotonic()
                if now - last_check >= SESSION_CHECK_S:
                    last_check = now
                    self._check_sessions()
                if now - last_cleanup >= CLEANUP_EVERY_S:
                    last_cleanup = now
                    self._cleanup()
            except Exception:  # noqa: BLE001 - a failed poll is retried at the next one
                logger.exception("live feed: poll failed")

    def _poll(self) -> None:
        assert self._tails is not None
        now = time.monotonic()
        fresh: list[LiveEvent] = []
        with self.session_factory() as db_session:
            for name in SOURCES:
                tail = self._tails[name]
                events = sources.read_after(
                    db_session=db_session, source=name, after_id=tail.low, limit=POLL_LIMIT
                )
                with self._lock:
                    fresh += tail.fresh(events, now)
                    tail.advance(now)
        if fresh:
            with self._lock:
                subscribers = list(self._subscribers)
            for sub in subscribers:
                for ev in fresh:
                    if sources.visible(sub.principal, ev):
                        sub.loop.call_soon_threadsafe(sub.push, ev)

    def _check_sessions(self) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        if not subscribers:
            return
        session_ids = {s.principal.session_id for s in subscribers} - {None}
        token_ids = {s.principal.token_id for s in subscribers} - {None}
        now = self.clock.now()
        idle = timedelta(seconds=self.settings.session_idle_timeout_s)
        live_sessions: set[int] = set()
        live_tokens: set[int] = set()
        with self.session_factory() as db_session:
            if session_ids:
                rows = db_session.execute(
                    select(ConsoleSession.id)
                    .join(ApiToken, ApiToken.id == ConsoleSession.token_id)
                    .where(
                        ConsoleSession.id.in_(session_ids),
                        ConsoleSession.ended_at.is_(None),
                        ConsoleSession.expires_at > now,
                        ConsoleSession.last_seen_at > now - idle,
                        ApiToken.revoked_at.is_(None),
                    )
                )
                live_sessions = {int(r[0]) for r in rows}
            if token_ids:
                rows = db_session.execute(
                    select(ApiToken.id).where(
                        ApiToken.id.in_(token_ids), ApiToken.revoked_at.is_(None)
                    )
                )
                live_tokens = {int(r[0]) for r in rows}
        for sub in subscribers:
            p = sub.principal
            if p.session_id is not None:
                alive = p.session_id in live_sessions
            else:
                alive = p.token_id is None or p.token_id in live_tokens  # None: bootstrap admin
            if not alive:
                sub.loop.call_soon_threadsafe(sub.push, SESSION_ENDED)

    def _cleanup(self) -> None:
        with self.session_factory() as db_session:
            result = db_session.execute(
                delete(DevicePresence).where(DevicePresence.at < self.clock.now() - PRESENCE_KEEP)
            )
            db_session.commit()
        gone = int(getattr(result, "rowcount", 0) or 0)
        if gone:
            logger.info(
                "live feed: %d device presence rows older than %s deleted", gone, PRESENCE_KEEP
            )

    def close(self) -> None:
        """End every stream and stop the poller (hub shutdown)."""
        with self._lock:
            self._closed = True
            subscribers = list(self._subscribers)
        self._stop.set()
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub.push, SHUTDOWN)
            except RuntimeError:  # the loop is closed already
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)


def stream_key(principal: Principal) -> tuple[str, int | None]:
    """What the per-session cap counts by: the console session, else the token."""
    if principal.session_id is not None:
        return ("session", principal.session_id)
    return ("token", principal.token_id)
