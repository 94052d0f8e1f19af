"""Hub ingest throughput: verified events/s stored through the full path (SQLite), the raw
verify rate with ``cryptography``, and through Mosquitto with 1 and 2 ingest workers on SQLite
and 1, 2 and 4 on PostgreSQL (a throw-away server, tests/support/postgres.py), the workers
sharing the device topics by MQTT v5 shared subscriptions. Every through-the-broker run counts
the stored rows: each event stored exactly once (0 lost, 0 duplicates) or the run raises.
``python -m bench.hub_ingest`` (or ``make bench``)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select

from bench.results import Report, Row
from hub.clock import SystemClock
from hub.db import make_engine, make_session_factory
from hub.devices.models import DeviceKind
from hub.devices.schemas import DeviceCreate
from hub.devices.service import register_device
from hub.events.models import Event
from hub.ingest.processor import Processor
from hub.ingest.runner import use_openssl
from hub.keys import HubKey
from hub.media.store import FileBlobStore
from hub.migrations.runner import upgrade
from hub.mqtt_messages import Inbound
from protocol import crypto, envelope, topics
from protocol.limits import GENESIS

DEVICES = 10
PER_DEVICE = 300
BATCH = 200
# The worker PUBACKs after its batch is stored, so the broker's in-flight window bounds a batch.
BROKER_CONF = "max_inflight_messages 1000"


def _stream(
    now: int, per_device: int = PER_DEVICE
) -> tuple[list[tuple[str, bytes]], dict[str, bytes]]:
    seeds = {f"bench-{i:02d}": crypto.new_seed() for i in range(DEVICES)}
    msgs: list[tuple[str, bytes]] = []
    prev = dict.fromkeys(seeds, GENESIS)
    for seq in range(1, per_device + 1):
        for dev, seed in seeds.items():
            body = {
                "text": "overflowing bin near gate 3",
                "category": "garbage",
                "loc": {"lat_e6": 30250000 + seq, "lon_e6": 120170000, "acc_m": 5},
            }
            env = envelope.build(dev, seq, now, "track", body, (), prev[dev])
            data = envelope.seal(env, seed)
            prev[dev] = envelope.digest(data)
            msgs.append((topics.evt(dev, "track"), data))
    return msgs, {d: bytes(crypto.public_key(s)) for d, s in seeds.items()}


def _rate(fn: Callable[[], int]) -> tuple[float, float]:
    start = time.perf_counter()
    n = fn()
    elapsed = time.perf_counter() - start
    return n / elapsed, elapsed


PG_WORKERS = (1, 2, 4)
PG_PER_DEVICE = 900  # 9,000 events a PostgreSQL run: ~2 s, long enough to compare workers
WARM_S = 1.5  # for the workers' verify helper processes to be up before the clock starts
PG = "PostgreSQL through Mosquitto"


class CountError(Exception):
    """A run did not store every event exactly once (the bench is broken, not slow)."""


def _setup(root: Path, keys: dict[str, bytes], url: str | None = None) -> Processor:
    url = url or f"sqlite:///{root / 'hub.db'}"
    upgrade(url)
    factory = make_session_factory(make_engine(url))
    with factory() as s:
        for dev, pk in keys.items():
            register_device(
                db_session=s,
                data=DeviceCreate(id=dev, kind=DeviceKind.access, public_key=pk.hex()),
                clock=SystemClock(),
            )
        s.commit()
    return Processor(
        factory,
        HubKey.generate(),
        FileBlobStore(root / "media"),
        clock=SystemClock(),
        on_event=lambda _s, _e: None,
    )


def _stored(processor: Processor) -> int:
    with processor.session_factory() as s:
        return int(s.scalar(select(func.count(Event.id))) or 0)


def exactly_once(rows: int, distinct: int, sent: int) -> tuple[int, int]:
    """(lost, duplicates) of a run that sent ``sent`` distinct (device, seq) events and left
    ``rows`` event rows holding ``distinct`` distinct (device, seq) pairs."""
    return sent - distinct, rows - distinct


def _counted(processor: Processor) -> tuple[int, int]:
    """(event rows, distinct (device, seq) among them)."""
    with processor.session_factory() as s:
        rows = int(s.scalar(select(func.count(Event.id))) or 0)
        pairs = select(Event.device_id, Event.seq).distinct().subquery()
        distinct = int(s.scalar(select(func.count()).select_from(pairs)) or 0)
    return rows, distinct


def _database(server_url: str, name: str) -> str:
    """A fresh database ``name`` on the PostgreSQL server of ``server_url``; its URL."""
    from sqlalchemy import create_engine, text

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def db_bytes(engine: Engine) -> int:
    """Bytes the database holds: SQLite's pages in use (the WAL's included), PostgreSQL's
    database size (tables, indexes, TOAST)."""
    from sqlalchemy import text

    with engine.connect() as c:
        if engine.dialect.name == "sqlite":
            pages = c.execute(text("PRAGMA page_count")).scalar_one()
            free = c.execute(text("PRAGMA freelist_count")).scalar_one()
            size = c.execute(text("PRAGMA page_size")).scalar_one()
            return int((pages - free) * size)
        return int(c.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


# database growth per stored event of the broker runs: name -> bytes per event
GROWTH: dict[str, float] = {}


def _through_broker(
    msgs: list[tuple[str, bytes]], keys: dict[str, bytes], workers: int, url: str | None = None
) -> float:
    """Events/s stored by ``workers`` ingest workers on the database at ``url`` (default: a
    fresh SQLite file); RuntimeError unless every event is stored exactly once. The database's
    growth per event goes into ``GROWTH``."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from hub.ingest.worker import IngestWorker
    from tests.support.mosquitto import Mosquitto

    with (
        tempfile.TemporaryDirectory() as tmp,
        Mosquitto(workdir=Path(tmp) / "mq", extra_conf=BROKER_CONF) as broker,
    ):
        proc = _setup(Path(tmp), keys, url)
        engine = proc.session_factory.kw["bind"]
        before = db_bytes(engine)
        running = [
            IngestWorker(
                session_factory=proc.session_factory,
                hub_key=proc.hub_key,
                store=proc.store,
                host=broker.host,
                port=broker.port,
                clock=SystemClock(),
                on_event=lambda _s, _e: None,
                username=broker.hub_account[0],  # the locked-down broker: the hub's account
                password=broker.hub_account[1],
            ).start()
            for _ in range(workers)
        ]
        for w in running:  # as runner.start does: the verify helpers start before the flood
            w.verifier.warm()
        time.sleep(WARM_S)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.max_inflight_messages_set(100)
        pub.username_pw_set(*broker.observer_account)  # one client publishing for every device
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        start = time.perf_counter()
        for t, p in msgs:
            pub.publish(t, p, qos=1)
        deadline = time.monotonic() + 120
        while sum(w.stats.stored for w in running) < len(msgs) and time.monotonic() < deadline:
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        rows, distinct = _counted(proc)
        pub.disconnect()
        pub.loop_stop()
        for w in running:
            w.stop()
        db = "SQLite" if engine.dialect.name == "sqlite" else "PostgreSQL"
        if distinct:
            GROWTH[f"{db}, {workers} worker(s)"] = (db_bytes(engine) - before) / distinct
        engine.dispose()
    lost, dupes = exactly_once(rows, distinct, len(msgs))
    if lost or dupes:
        raise CountError(f"{workers} worker(s): {lost} events lost, {dupes} stored twice")
    return distinct / elapsed


def _on_postgres() -> list[Measured]:
    """The broker runs with 1, 2 and 4 workers on one throw-away PostgreSQL server (a fresh
    database a run); skipped rows, with the reason, when no server can be started."""
    from tests.support import postgres

    names = [f"{PG}, {w} worker(s), QoS 1" for w in PG_WORKERS]
    msgs, keys = _stream(int(time.time()), PG_PER_DEVICE)
    try:
        with postgres.server("max_connections=50") as server:
            return [
                (name, _through_broker(msgs, keys, w, _database(server, f"bench_{w}w")), "")
                for name, w in zip(names, PG_WORKERS, strict=True)
            ]
    except postgres.Unavailable as exc:
        reason = str(exc).splitlines()[0]
        return [(name, None, f"skipped: {reason}") for name in names]


Measured = tuple[str, float | None, str]


def measure() -> list[Measured]:
    """(path, events/s or None, note) per measured path."""
    use_openssl()
    now = int(time.time())
    msgs, keys = _stream(now)
    n = len(msgs)
    parsed = [envelope.parse(p) for _t, p in msgs]

    def verify() -> int:
        return sum(1 for e in parsed if envelope.verify(e, keys[e["dev"]]) is None)

    def parse_verify() -> int:
        return sum(1 for _t, p in msgs if envelope.open(p, keys[envelope.parse(p)["dev"]]))

    out: list[tuple[str, float | None, str]] = [
        ("verify only (cryptography Ed25519)", _rate(verify)[0], ""),
        ("parse + verify (envelope.open)", _rate(parse_verify)[0], ""),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        proc = _setup(Path(tmp), keys)

        def full() -> int:
            for i in range(0, n, BATCH):
                proc.process([Inbound(t, p) for t, p in msgs[i : i + BATCH]])
            return _stored(proc)

        name = f"full ingest path, batches of {BATCH} (verify, dedupe, chain, store)"
        out.append((name, _rate(full)[0], ""))
        proc.session_factory.kw["bind"].dispose()
    for workers in (1, 2):
        name = f"through Mosquitto, {workers} worker(s), QoS 1"
        try:
            out.append((name, _through_broker(msgs, keys, workers), ""))
        except (ImportError, RuntimeError, OSError) as exc:
            out.append((name, None, f"skipped: {exc}"))
    out += _on_postgres()
    return out


def ratios(measured: list[Measured]) -> dict[str, float]:
    """name -> its rate over the 1-worker PostgreSQL row's, for the PostgreSQL rows."""
    base = next((r for n, r, _ in measured if n.startswith(f"{PG}, 1 worker")), None)
    if not base:
        return {}
    return {n: round(r / base, 2) for n, r, _ in measured if n.startswith(PG) and r}


def table(measured: list[Measured]) -> Table:
    n = DEVICES * PER_DEVICE
    t = Table(title=f"Hub ingest ({n} signed envelopes from {DEVICES} devices, SQLite WAL; "
                    f"PostgreSQL: {DEVICES * PG_PER_DEVICE}; every broker run: each event "
                    "stored exactly once)")  # fmt: skip
    t.add_column("path")
    t.add_column("events/s", justify="right")
    t.add_column("µs/event", justify="right")
    t.add_column("vs 1 PG worker", justify="right")
    ratio = ratios(measured)
    for name, rate, note in measured:
        if rate is None:
            t.add_row(name, "skipped", note[:60], "")
        else:
            r = f"{ratio[name]:.2f}x" if name in ratio else ""
            t.add_row(name, f"{rate:,.0f}", f"{1e6 / rate:,.1f}", r)
    return t


HEADLINE = ("full ingest path", "through Mosquitto, 1 worker", PG)


def rows(measured: list[Measured]) -> list[Row]:
    ratio = ratios(measured)
    return [
        Row(
            "hub_ingest",
            name,
            None if rate is None else round(rate),
            "events/s",
            ratio=ratio.get(name),
            baseline="1 PG worker" if name in ratio else None,
            headline=name.startswith(HEADLINE),
            details={
                "us_per_event": round(1e6 / rate, 1) if rate else None,
                "note": note,
                "events": DEVICES * (PG_PER_DEVICE if name.startswith(PG) else PER_DEVICE),
                "devices": DEVICES,
                **({"lost": 0, "duplicates": 0} if "Mosquitto" in name and rate else {}),
            },
        )  # fmt: skip
        for name, rate, note in measured
    ]


def growth_rows() -> list[Row]:
    """The database's growth per stored event (sizing: docs/scale-out.md)."""
    return [
        Row("hub_ingest", f"database growth per event, {name}", round(b), "B/event",
            headline=False, details={"bytes_per_million_events": round(b * 1e6)})
        for name, b in sorted(GROWTH.items())
    ]  # fmt: skip


def run() -> Report:
    GROWTH.clear()
    measured = measure()
    t = table(measured)
    t.caption = "database growth per event: " + ", ".join(
        f"{name} {b:,.0f} B" for name, b in sorted(GROWTH.items())
    )
    return Report(t, rows(measured) + growth_rows())


if __name__ == "__main__":
    Console(width=120).print(table(measure()))
