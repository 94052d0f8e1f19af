"""The batch path (``hub.ingest.batch.store_batch``) against the careful per-event path.

Every scenario feeds the same batches to two processors on two databases: one takes the fast
path, the other is forced onto the careful path (``store_batch`` raises ``BatchAborted`` for its
engine, as it does on any unexpected error). After every batch both databases must hold the
same events with the same chain statuses, the same ChainGap rows, the same device heads and
the same rejection counts, the counts of each batch must agree, and each database must keep
its own invariants (``max_seq`` is the highest seq stored, ``last_seq`` / ``chain_head`` the
contiguous stored prefix). The fast side runs on SQLite and, in the ``*_on_postgres`` tests,
on PostgreSQL (tests/hub/test_postgres.py's cluster).
"""

from __future__ import annotations

import logging
import random
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import FrozenClock
from hub.db import make_engine, make_session_factory
from hub.devices.models import Device
from hub.events import service as events_service
from hub.events.models import ChainGap, Event
from hub.events.service import rejection_counts
from hub.ingest import batch
from hub.ingest.processor import BatchResult, Processor
from hub.keys import HubKey
from hub.media.store import FileBlobStore
from hub.migrations.runner import downgrade, upgrade
from hub.mqtt_messages import Inbound
from hub.settings import Settings
from protocol import command
from protocol.limits import GENESIS
from tests.builders.devices import TestDevice
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the module's cluster fixture

Msg = tuple[str, bytes]


@dataclass
class Paths:
    """What the batch path did, per engine (``id(engine)``)."""

    careful: set[int] = field(default_factory=set)  # engines forced onto the careful path
    fast: dict[int, int] = field(default_factory=dict)  # batches the fast path committed
    aborted: dict[int, list[str]] = field(default_factory=dict)  # its own give-ups (reasons)
    advanced: dict[int, list[str]] = field(default_factory=dict)  # advance_chain calls
    lock = threading.Lock()

    def fast_count(self, engine: Engine) -> int:
        return self.fast.get(id(engine), 0)

    def aborts(self, engine: Engine) -> list[str]:
        return self.aborted.get(id(engine), [])

    def advances(self, engine: Engine) -> list[str]:
        return self.advanced.get(id(engine), [])


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Paths:
    """Spies on ``batch.store_batch`` (and forces the careful path for some engines) and on
    ``advance_chain``; both are looked up through their modules, so the patch reaches them."""
    spy = Paths()
    real_store = batch.store_batch
    real_advance = events_service.advance_chain

    def store_batch(db_session: Session, *args: Any, **kwargs: Any) -> batch.BatchOutcome:
        key = id(db_session.get_bind())
        if key in spy.careful:
            raise batch.BatchAborted("forced by the test")
        try:
            out = real_store(db_session, *args, **kwargs)
        except batch.BatchAborted as exc:
            with spy.lock:
                spy.aborted.setdefault(key, []).append(str(exc))
            raise
        with spy.lock:
            spy.fast[key] = spy.fast.get(key, 0) + 1
        return out

    def advance_chain(*, db_session: Session, device_id: str, at: Any) -> Device | None:
        with spy.lock:
            spy.advanced.setdefault(id(db_session.get_bind()), []).append(device_id)
        return real_advance(db_session=db_session, device_id=device_id, at=at)

    monkeypatch.setattr(batch, "store_batch", store_batch)
    monkeypatch.setattr(events_service, "advance_chain", advance_chain)
    return spy


@dataclass
class Side:
    """One database and the processor in front of it."""

    engine: Engine
    factory: sessionmaker[Session]
    processor: Processor
    commits: list[int] = field(default_factory=lambda: [0])

    def feed(self, msgs: list[Msg]) -> BatchResult:
        return self.processor.process([Inbound(t, p) for t, p in msgs])


def make_side(
    engine: Engine,
    hub_key: HubKey,
    store_dir: Path,
    clock: FrozenClock,
    settings: Settings,
    on_event: Any = None,
) -> Side:
    factory = make_session_factory(engine)
    processor = Processor(
        factory,
        hub_key,
        FileBlobStore(store_dir),
        clock=clock,
        settings=settings,
        on_event=on_event,
    )
    side = Side(engine, factory, processor)

    def count(_conn: Any) -> None:
        side.commits[0] += 1

    event.listen(engine, "commit", count)
    return side


@pytest.fixture
def fast(
    engine: Engine,
    hub_key: HubKey,
    clock: FrozenClock,
    settings: Settings,
    tmp_path: Path,
    paths: Paths,
) -> Side:
    """The conftest's SQLite database, on the batch path."""
    return make_side(engine, hub_key, tmp_path / "fast-media", clock, settings)


@pytest.fixture
def careful(
    migrated_template: Path,
    hub_key: HubKey,
    clock: FrozenClock,
    settings: Settings,
    tmp_path: Path,
    paths: Paths,
) -> Iterator[Side]:
    """A second SQLite database whose batches always take the careful path."""
    path = tmp_path / "careful.db"
    shutil.copyfile(migrated_template, path)
    engine = make_engine(f"sqlite:///{path}")
    paths.careful.add(id(engine))
    yield make_side(engine, hub_key, tmp_path / "careful-media", clock, settings)
    engine.dispose()


@pytest.fixture
def pg_fast(
    postgres_url: str,  # noqa: F811 - the fixture
    hub_key: HubKey,
    clock: FrozenClock,
    settings: Settings,
    tmp_path: Path,
    paths: Paths,
) -> Iterator[Side]:
    """PostgreSQL, migrated for this test, on the batch path."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        yield make_side(engine, hub_key, tmp_path / "pg-media", clock, settings)
    finally:
        engine.dispose()
        downgrade(postgres_url)


# -- what a database holds ------------------------------------------------------------------


def snapshot(side: Side) -> dict[str, Any]:
    with side.factory() as s:
        return {
            "events": sorted(
                tuple(r)
                for r in s.execute(select(Event.device_id, Event.seq, Event.chain, Event.digest))
            ),
            # every column but the id, read back through the ORM's types: the batch path
            # writes with the DB-API's executemany and the column types' bind processors
            "rows": sorted(
                (
                    e.device_id,
                    e.seq,
                    e.kind,
                    e.ts,
                    e.captured_at,
                    e.received_at,
                    e.historical,
                    e.grid_code,
                    repr(e.body),
                    repr(e.blobs),
                    e.prev,
                    e.raw,
                )
                for e in s.scalars(select(Event))
            ),
            "gaps": sorted(
                (g.device_id, g.kind, g.from_seq, g.to_seq, g.resolved_at is not None, g.detail)
                for g in s.scalars(select(ChainGap))
            ),
            "heads": sorted(
                tuple(r)
                for r in s.execute(
                    select(
                        Device.id,
                        Device.last_seq,
                        Device.chain_head,
                        Device.max_seq,
                        Device.announced_seq,
                        Device.last_seen,
                    )
                )
            ),
            "rejections": rejection_counts(db_session=s),
        }


def check_heads(side: Side) -> None:
    """Each device: ``max_seq`` the highest seq stored, ``last_seq`` / ``chain_head`` the end
    of the contiguous stored prefix, events in it linked or broken, events above it pending."""
    with side.factory() as s:
        for dev in s.scalars(select(Device)):
            rows = s.execute(
                select(Event.seq, Event.digest, Event.chain)
                .where(Event.device_id == dev.id)
                .order_by(Event.seq)
            ).all()
            top = max((seq for seq, _d, _c in rows), default=0)
            assert dev.max_seq == top, (dev.id, dev.max_seq, top)
            prefix = 0
            for seq, _digest, _chain in rows:
                if seq != prefix + 1:
                    break
                prefix = seq
            assert dev.last_seq == prefix, (dev.id, dev.last_seq, prefix)
            digests = {seq: d for seq, d, _c in rows}
            assert dev.chain_head == (digests[prefix] if prefix else "0" * 64), dev.id
            for seq, _digest, chain in rows:
                want = {"linked", "broken"} if seq <= prefix else {"pending"}
                assert chain in want, (dev.id, seq, chain)


def counts(result: BatchResult) -> tuple[int, int, int]:
    return result.stored, result.duplicates, result.rejected


def receipts(side: Side, result: BatchResult) -> list[tuple[str, int]]:
    pk = side.processor.hub_key.public_key
    return sorted((o.topic, command.open_receipt(o.payload, pk)["seq"]) for o in result.outbound)


def run_both(fast: Side, careful: Side, batches: list[list[Msg]]) -> list[tuple[int, int, int]]:
    """Feed every batch to both sides; after each, compare them and check each one."""
    per_batch = []
    for i, msgs in enumerate(batches):
        got, want = fast.feed(msgs), careful.feed(msgs)
        assert counts(got) == counts(want), f"batch {i}"
        assert receipts(fast, got) == receipts(careful, want), f"batch {i}"
        assert snapshot(fast) == snapshot(careful), f"batch {i}"
        check_heads(fast)
        check_heads(careful)
        per_batch.append(counts(got))
    assert fast.processor.tally.snapshot() == careful.processor.tally.snapshot()
    return per_batch


def register(sides: list[Side], devices: list[TestDevice]) -> None:
    for side in sides:
        with side.factory() as s:
            for dev in devices:
                dev.register(s)
            s.commit()


def make_devices(device_factory: Callable[..., TestDevice], *names: str) -> list[TestDevice]:
    return [device_factory(name) for name in names]


def events_of(dev: TestDevice, n: int, kind: str = "heartbeat") -> list[Msg]:
    return [dev.event(kind, {"n": dev.seq + 1}) for _ in range(n)]


# -- the good case: the head continued, one transaction -------------------------------------


def test_a_batch_continuing_the_head_is_linked_in_one_commit(
    fast: Side,
    careful: Side,
    paths: Paths,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    a, b = make_devices(device_factory, "hh-head-a", "hh-head-b")
    register([fast, careful], [a, b])
    first = events_of(a, 3) + events_of(b, 2)
    second = [m for pair in zip(events_of(a, 4), events_of(b, 4), strict=True) for m in pair]
    commits = []
    for msgs in (first, second):
        before = fast.commits[0]
        clock.advance(seconds=5)
        got = fast.feed(msgs)
        commits.append(fast.commits[0] - before)
        assert counts(got) == (len(msgs), 0, 0)
        careful.feed(msgs)
    assert commits == [1, 1]  # events, chain, heads and hooks: one transaction per batch
    assert paths.fast_count(fast.engine) == 2 and not paths.aborts(fast.engine)
    assert paths.advances(fast.engine) == []  # the head simply continued
    snap = snapshot(fast)
    assert {chain for _d, _s, chain, _g in snap["events"]} == {"linked"}
    assert snap["gaps"] == []
    with fast.factory() as s:
        for dev, top in ((a, 7), (b, 6)):
            row = s.get(Device, dev.device_id)
            assert row is not None
            assert (row.last_seq, row.max_seq, row.announced_seq) == (top, top, top)
            assert row.chain_head == dev.prev  # the digest of the device's last envelope
            assert row.last_seen == clock.now()
    assert snap == snapshot(careful)


def test_the_first_event_of_a_device_links_to_genesis(
    fast: Side, careful: Side, paths: Paths, device_factory: Callable[..., TestDevice]
) -> None:
    (dev,) = make_devices(device_factory, "hh-genesis")
    register([fast, careful], [dev])
    assert dev.prev == GENESIS
    run_both(fast, careful, [events_of(dev, 1), events_of(dev, 1)])
    assert paths.advances(fast.engine) == []
    assert {c for _d, _s, c, _g in snapshot(fast)["events"]} == {"linked"}


# -- out of order, gaps, breaks: the careful path's verdicts --------------------------------


def test_out_of_order_arrival_matches_the_careful_path(
    fast: Side, careful: Side, paths: Paths, device_factory: Callable[..., TestDevice]
) -> None:
    (dev,) = make_devices(device_factory, "hh-late")
    register([fast, careful], [dev])
    e = events_of(dev, 4)
    run_both(fast, careful, [[e[2]], [e[0], e[1]], [e[3]]])
    snap = snapshot(fast)
    assert [(s, c) for _d, s, c, _g in snap["events"]] == [(n, "linked") for n in (1, 2, 3, 4)]
    assert [g[:5] for g in snap["gaps"]] == [("hh-late", "gap", 1, 2, True)]
    assert paths.fast_count(fast.engine) == 3  # all of it on the batch path
    assert paths.advances(fast.engine) == ["hh-late", "hh-late"]  # [3] and [1, 2]; not [4]


def test_a_gap_filled_in_pieces_matches_the_careful_path(
    fast: Side, careful: Side, paths: Paths, device_factory: Callable[..., TestDevice]
) -> None:
    (dev,) = make_devices(device_factory, "hh-gap")
    register([fast, careful], [dev])
    e = events_of(dev, 8)
    run_both(fast, careful, [e[0:2], e[5:7], [e[4]], [e[2]], [e[3]], [e[7]]])
    snap = snapshot(fast)
    assert {c for _d, _s, c, _g in snap["events"]} == {"linked"}
    assert all(resolved for *_x, resolved, _detail in snap["gaps"])
    assert [g[:4] for g in snap["gaps"]] == [("hh-gap", "gap", 3, 5), ("hh-gap", "gap", 4, 4)]


def test_a_broken_prev_matches_the_careful_path(
    fast: Side, careful: Side, paths: Paths, device_factory: Callable[..., TestDevice]
) -> None:
    (dev,) = make_devices(device_factory, "hh-broken")
    register([fast, careful], [dev])
    good = events_of(dev, 2)
    dev.prev = "ab" * 32  # its history was cut: seq 3 names a prev nobody stored
    cut = events_of(dev, 1)
    after = events_of(dev, 2)
    run_both(fast, careful, [good, cut, after[:1], after[1:]])
    snap = snapshot(fast)
    assert [(s, c) for _d, s, c, _g in snap["events"]] == [
        (1, "linked"),
        (2, "linked"),
        (3, "broken"),
        (4, "linked"),
        (5, "linked"),
    ]
    assert [g[:5] for g in snap["gaps"]] == [("hh-broken", "broken", 2, 3, False)]
    # a break inside one batch that otherwise continues the head
    dev.prev = "cd" * 32
    run_both(fast, careful, [events_of(dev, 1) + events_of(dev, 1)])
    assert [g[:4] for g in snapshot(fast)["gaps"]][-1] == ("hh-broken", "broken", 5, 6)


def test_genesis_as_prev_after_the_first_event_is_a_break(
    fast: Side, careful: Side, paths: Paths, device_factory: Callable[..., TestDevice]
) -> None:
    """A device that starts its chain again (a wiped flash) links only at seq 1."""
    (dev,) = make_devices(device_factory, "hh-regen")
    register([fast, careful], [dev])
    first = events_of(dev, 2)
    dev.prev = GENESIS
    again = events_of(dev, 2)
    run_both(fast, careful, [first, again])
    snap = snapshot(fast)
    assert [c for _d, _s, c, _g in snap["events"]] == ["linked", "linked", "broken", "linked"]
    assert [g[:4] for g in snap["gaps"]] == [("hh-regen", "broken", 2, 3)]


def test_devices_in_different_states_in_one_batch(
    fast: Side, careful: Side, paths: Paths, device_factory: Callable[..., TestDevice]
) -> None:
    """One batch: a device continuing its head, one with a gap, one filling its gap, one
    whose chain breaks; each device gets its own verdict."""
    cont, gap, fill, brk = make_devices(
        device_factory, "hh-mix-cont", "hh-mix-gap", "hh-mix-fill", "hh-mix-brk"
    )
    register([fast, careful], [cont, gap, fill, brk])
    c, g, f, b = (events_of(d, 6) for d in (cont, gap, fill, brk))
    brk.prev = "ef" * 32
    b += events_of(brk, 2)
    first = c[:2] + g[:2] + f[:1] + f[3:4] + b[:2]
    second = c[2:4] + g[4:6] + f[1:3] + b[6:7]
    third = c[4:6] + g[2:4] + f[4:6] + b[2:6] + b[7:8]
    run_both(fast, careful, [first, second, third])
    assert paths.fast_count(fast.engine) == 3
    assert "hh-mix-cont" not in paths.advances(fast.engine)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_shuffled_streams_with_resends_and_replays_match_the_careful_path(
    seed: int, fast: Side, careful: Side, paths: Paths, device_factory: Callable[..., TestDevice]
) -> None:
    rng = random.Random(seed)
    devs = make_devices(device_factory, *(f"hh-shuf-{seed}-{i}" for i in range(3)))
    register([fast, careful], devs)
    stream: list[Msg] = []
    for dev in devs:
        for n in range(1, 13):
            if n == 7 and rng.random() < 0.5:
                dev.prev = "12" * 32  # a cut history on some devices
            stream.append(dev.event("heartbeat", {"n": n}))
    replays = [
        d.event("heartbeat", {"other": n}, seq=n, advance=False)
        for d in devs
        for n in rng.sample(range(1, 13), 2)
    ]
    stream += rng.sample(stream, 8) + replays  # QoS 1 resends (same bytes) and replays
    rng.shuffle(stream)
    batches = []
    while stream:
        k = rng.randint(1, 8)
        batches.append(stream[:k])
        stream = stream[k:]
    per_batch = run_both(fast, careful, batches)
    stored, duplicates, rejected = (sum(x) for x in zip(*per_batch, strict=True))
    # a replay that came first is stored and the original (and its resends) rejected
    assert stored == 36 and duplicates + rejected == 8 + len(replays)
    assert rejected >= len(replays)
    assert paths.fast_count(fast.engine) > 0 and not paths.aborts(fast.engine)


# -- duplicates and replays -----------------------------------------------------------------


def test_resends_and_replays_in_the_batch_and_against_stored_rows(
    fast: Side, careful: Side, paths: Paths, device_factory: Callable[..., TestDevice]
) -> None:
    a, b = make_devices(device_factory, "hh-dup-a", "hh-dup-b")
    register([fast, careful], [a, b])
    stored = events_of(a, 3) + events_of(b, 1)
    replay_2 = a.event("heartbeat", {"forged": 2}, seq=2, advance=False)
    new = events_of(a, 2)
    in_batch_replay = a.event("heartbeat", {"forged": 5}, seq=5, advance=False)
    batches = [
        stored,
        # against stored rows: a resend of a2, a replay of a2; valid a4, a5 around them, plus
        # in the batch: a resend of a4 and a replay of a5, and b's next event
        [stored[1], new[0], replay_2, new[0], new[1], in_batch_replay, *events_of(b, 1)],
    ]
    per_batch = run_both(fast, careful, batches)
    assert per_batch == [(4, 0, 0), (3, 2, 2)]
    assert fast.processor.tally.snapshot() == {"duplicate": 2, "replayed": 2}
    assert snapshot(fast)["rejections"] == {"duplicate": 2, "replayed": 2}
    assert paths.fast_count(fast.engine) == 2 and not paths.aborts(fast.engine)
    assert {c for _d, _s, c, _g in snapshot(fast)["events"]} == {"linked"}


def test_a_batch_of_nothing_but_resends_is_counted_once(
    fast: Side, careful: Side, paths: Paths, device_factory: Callable[..., TestDevice]
) -> None:
    (dev,) = make_devices(device_factory, "hh-resend")
    register([fast, careful], [dev])
    msgs = events_of(dev, 4)
    per_batch = run_both(fast, careful, [msgs, msgs[::-1], msgs[1:3]])
    assert per_batch == [(4, 0, 0), (0, 4, 0), (0, 2, 0)]
    assert fast.processor.tally.snapshot() == {"duplicate": 6}


# -- hooks that fail ------------------------------------------------------------------------


class Hook:
    """An on_event hook that counts its calls and bumps the device's ``outbox`` column in the
    hook's transaction (rolled back with it); it raises for ``fail`` (device, seq) pairs,
    ``times`` times each (None: always)."""

    def __init__(self, fail: set[tuple[str, int]], times: int | None) -> None:
        self.fail, self.times = fail, times
        self.calls: dict[tuple[str, int], int] = {}

    def __call__(self, db_session: Session, ev: Event) -> None:
        key = (ev.device_id, ev.seq)
        self.calls[key] = self.calls.get(key, 0) + 1
        db_session.execute(
            update(Device)
            .where(Device.id == ev.device_id)
            .values(outbox=func.coalesce(Device.outbox, 0) + 1)
        )
        if key in self.fail and (self.times is None or self.calls[key] <= self.times):
            raise RuntimeError(f"hook failed on {key}")


@pytest.mark.parametrize("times", [1, None], ids=["fails-once", "fails-always"])
def test_a_raising_hook_costs_no_event_and_counts_nothing_twice(
    times: int | None,
    engine: Engine,
    hub_key: HubKey,
    clock: FrozenClock,
    settings: Settings,
    tmp_path: Path,
    paths: Paths,
    device_factory: Callable[..., TestDevice],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = Hook({("hh-hook-a", 2)}, times)
    side = make_side(engine, hub_key, tmp_path / "m", clock, settings, on_event=hook)
    a, b = make_devices(device_factory, "hh-hook-a", "hh-hook-b")
    register([side], [a, b])
    old = events_of(a, 1)
    side.feed(old)
    msgs = [*events_of(a, 3), *events_of(b, 2), old[0]]  # a2..a4, b1, b2, a resend of a1
    caplog.set_level(logging.INFO, logger="hub.ingest")
    got = side.feed(msgs)
    assert counts(got) == (5, 1, 0)
    assert side.processor.tally.snapshot() == {"duplicate": 1}
    assert paths.aborts(engine) == ["RuntimeError: hook failed on ('hh-hook-a', 2)"]
    snap = snapshot(side)
    assert [(d, s) for d, s, _c, _g in snap["events"]] == [
        ("hh-hook-a", n) for n in (1, 2, 3, 4)
    ] + [("hh-hook-b", 1), ("hh-hook-b", 2)]
    assert {c for _d, _s, c, _g in snap["events"]} == {"linked"}
    assert snap["rejections"] == {"duplicate": 1}
    check_heads(side)
    failures = [r for r in caplog.records if r.getMessage().startswith("after-store hook failed")]
    assert len(failures) == (0 if times == 1 else 1)
    # the fast attempt's hook writes were rolled back: each hook that succeeded counts once
    with side.factory() as s:
        outbox = {dev: n for dev, n in s.execute(select(Device.id, Device.outbox))}
    assert outbox == {"hh-hook-a": 4 if times == 1 else 3, "hh-hook-b": 2}
    # the fast attempt stopped at a2: a2 ran twice, the hooks after it once
    assert hook.calls[("hh-hook-a", 2)] == 2 and hook.calls[("hh-hook-a", 3)] == 1
    assert ("hh-hook-a", 1) not in {k for k, n in hook.calls.items() if n > 1}  # the resend


# -- the same on PostgreSQL -----------------------------------------------------------------


@pytest.mark.slow
def test_the_batch_path_on_postgres_matches_the_careful_path(
    pg_fast: Side,
    careful: Side,
    paths: Paths,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    rng = random.Random(11)
    devs = make_devices(device_factory, *(f"hh-pg-{i}" for i in range(4)))
    register([pg_fast, careful], devs)
    # in order (linked, one commit each), then the shuffled stream with resends and replays
    in_order = [events_of(d, 2) for d in devs]
    before = pg_fast.commits[0]
    run_both(pg_fast, careful, in_order)
    assert pg_fast.commits[0] - before == len(in_order)
    assert paths.advances(pg_fast.engine) == []
    stream: list[Msg] = []
    for dev in devs:
        for n in range(3, 13):
            if n == 8 and dev is devs[0]:
                dev.prev = "34" * 32
            stream.append(dev.event("heartbeat", {"n": n}))
    replays = [d.event("heartbeat", {"x": 1}, seq=rng.randint(1, 2), advance=False) for d in devs]
    stream += rng.sample(stream, 6) + replays
    rng.shuffle(stream)
    batches = [stream[i : i + 7] for i in range(0, len(stream), 7)]
    per_batch = run_both(pg_fast, careful, batches)
    stored, duplicates, rejected = (sum(x) for x in zip(*per_batch, strict=True))
    assert (stored, duplicates, rejected) == (40, 6, 4)
    assert not paths.aborts(pg_fast.engine)
    assert [g[:4] for g in snapshot(pg_fast)["gaps"] if g[1] == "broken"] == [
        ("hh-pg-0", "broken", 7, 8)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fast-fast", "fast-careful"])
def test_two_processors_racing_on_postgres_store_each_event_once(
    mode: str,
    pg_fast: Side,
    postgres_url: str,  # noqa: F811 - the fixture
    hub_key: HubKey,
    clock: FrozenClock,
    settings: Settings,
    tmp_path: Path,
    paths: Paths,
    device_factory: Callable[..., TestDevice],
) -> None:
    """Two workers' processors on one PostgreSQL take the same events (QoS 1 redeliveries
    reaching both), one in order and one with each device's batches in reverse, so their
    device locks and their gaps cross; with ``fast-careful`` the second is on the careful
    path (no device lock before its inserts). Nothing lost, nothing stored or counted twice,
    every chain linked and every head right in the end."""
    twin_engine = make_engine(postgres_url)
    try:
        if mode == "fast-careful":
            paths.careful.add(id(twin_engine))
        twin = make_side(twin_engine, hub_key, tmp_path / "twin", clock, settings)
        devs = make_devices(device_factory, *(f"hh-race-{i}" for i in range(4)))
        register([pg_fast], devs)
        msgs = [events_of(d, 30) for d in devs]
        forward = [m for n in range(30) for m in (msgs[d][n] for d in range(4))]
        backward = [m for n in reversed(range(30)) for m in (msgs[d][n] for d in (3, 2, 1, 0))]
        barrier = threading.Barrier(2)
        results: dict[str, list[BatchResult]] = {"a": [], "b": []}

        def run(side: Side, order: list[Msg], out: list[BatchResult]) -> None:
            barrier.wait()
            for i in range(0, len(order), 12):
                out.append(side.feed(order[i : i + 12]))

        threads = [
            threading.Thread(target=run, args=(pg_fast, forward, results["a"])),
            threading.Thread(target=run, args=(twin, backward, results["b"])),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        every = results["a"] + results["b"]
        assert sum(r.stored for r in every) == 120
        assert sum(r.duplicates for r in every) == 120
        assert sum(r.rejected for r in every) == 0  # no "internal": a deadlock was retried
        totals = pg_fast.processor.tally.snapshot()
        for reason, n in twin.processor.tally.snapshot().items():
            totals[reason] = totals.get(reason, 0) + n
        assert totals == {"duplicate": 120}
        snap = snapshot(pg_fast)
        assert len(snap["events"]) == 120
        assert {c for _d, _s, c, _g in snap["events"]} == {"linked"}
        assert all(resolved for *_x, resolved, _detail in snap["gaps"] if _x[1] == "gap")
        check_heads(pg_fast)
    finally:
        twin_engine.dispose()


def test_a_failed_chain_advance_on_the_careful_path_leaves_max_seq_right(
    fast: Side, monkeypatch: pytest.MonkeyPatch, device_factory: Callable[..., TestDevice]
) -> None:
    """The careful path stores seq 5 (4 missing) and its chain advance then fails (it is a
    transaction of its own, after the events' commit). ``max_seq`` must still say 5, else the
    batch path takes the late seq 4 for a continuation of the head: it links 4, leaves 5
    pending, and the receipts stay at 4 (a resend of 5 is only a duplicate) until the device
    sends something new."""
    (dev,) = make_devices(device_factory, "hh-stale")
    register([fast], [dev])
    e = events_of(dev, 5)
    fast.feed(e[:3])
    real_store, real_advance = batch.store_batch, events_service.advance_chain

    def careful_only(*_a: Any, **_k: Any) -> batch.BatchOutcome:
        raise batch.BatchAborted("forced by the test")

    def advance_fails(**_k: Any) -> Device | None:
        raise RuntimeError("chain advance failed")

    monkeypatch.setattr(batch, "store_batch", careful_only)
    monkeypatch.setattr(events_service, "advance_chain", advance_fails)
    assert counts(fast.feed([e[4]])) == (1, 0, 0)
    with fast.factory() as s:
        row = s.get(Device, "hh-stale")
        assert row is not None and (row.last_seq, row.max_seq) == (3, 5)
    monkeypatch.setattr(batch, "store_batch", real_store)
    monkeypatch.setattr(events_service, "advance_chain", real_advance)
    result = fast.feed([e[3]])
    assert counts(result) == (1, 0, 0)
    assert receipts(fast, result) == [("gl/v1/hh-stale/rcpt", 5)]
    check_heads(fast)
    assert {c for _d, _s, c, _g in snapshot(fast)["events"]} == {"linked"}
