"""Hub ingest throughput: verified events/s stored through the full path (SQLite), and the raw
verify rate with ``cryptography``.  ``python -m bench.hub_ingest`` (or ``make bench``)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

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


def _stream(now: int) -> tuple[list[tuple[str, bytes]], dict[str, bytes]]:
    seeds = {f"bench-{i:02d}": crypto.new_seed() for i in range(DEVICES)}
    msgs: list[tuple[str, bytes]] = []
    prev = dict.fromkeys(seeds, GENESIS)
    for seq in range(1, PER_DEVICE + 1):
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


def _setup(root: Path, keys: dict[str, bytes]) -> Processor:
    url = f"sqlite:///{root / 'hub.db'}"
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


def _through_broker(msgs: list[tuple[str, bytes]], keys: dict[str, bytes], workers: int) -> float:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from hub.ingest.worker import IngestWorker
    from tests.support.mosquitto import Mosquitto

    with (
        tempfile.TemporaryDirectory() as tmp,
        Mosquitto(workdir=Path(tmp) / "mq", extra_conf=BROKER_CONF) as broker,
    ):
        proc = _setup(Path(tmp), keys)
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
        stored = _stored(proc)
        pub.disconnect()
        pub.loop_stop()
        for w in running:
            w.stop()
    return stored / elapsed


def measure() -> list[tuple[str, float | None, str]]:
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
    return out


def table(measured: list[tuple[str, float | None, str]]) -> Table:
    n = DEVICES * PER_DEVICE
    t = Table(title=f"Hub ingest ({n} signed envelopes from {DEVICES} devices, SQLite WAL)")
    t.add_column("path")
    t.add_column("events/s", justify="right")
    t.add_column("µs/event", justify="right")
    for name, rate, note in measured:
        if rate is None:
            t.add_row(name, "skipped", note[:60])
        else:
            t.add_row(name, f"{rate:,.0f}", f"{1e6 / rate:,.1f}")
    return t


HEADLINE = ("full ingest path", "through Mosquitto, 1 worker")


def rows(measured: list[tuple[str, float | None, str]]) -> list[Row]:
    return [
        Row(
            "hub_ingest",
            name,
            None if rate is None else round(rate),
            "events/s",
            headline=name.startswith(HEADLINE),
            details={
                "us_per_event": round(1e6 / rate, 1) if rate else None,
                "note": note,
                "events": DEVICES * PER_DEVICE,
                "devices": DEVICES,
            },
        )  # fmt: skip
        for name, rate, note in measured
    ]


def run() -> Report:
    measured = measure()
    return Report(table(measured), rows(measured))


if __name__ == "__main__":
    Console(width=120).print(table(measure()))
