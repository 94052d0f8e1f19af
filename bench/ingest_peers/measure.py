"""Run one system on one stream through a fresh locked-down Mosquitto and judge what it stored.

``python -m bench.ingest_peers.measure gridlink --devices 1000 [--rate 1000]`` runs one case
and prints its figures (for profiling one system by hand); ``bench.ingest_peers`` runs them all.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from tests.support.mosquitto import Mosquitto

from .stream import Outcome, Publisher, Stream, Watcher, make_stream, verdict

QUIET = ("error", "warning", "notice")  # no log line per message


class System(Protocol):
    name: str
    db_path: Path
    query: str

    def start(self) -> System: ...
    def stop(self) -> None: ...


Factory = Callable[[Path, Mosquitto, Stream], System]


def measure(
    factory: Factory,
    stream: Stream,
    rate: float | None = None,
    *,
    settle_s: float = 60.0,
) -> Outcome:
    """Start the system, publish ``stream`` (at ``rate`` messages/s, or as fast as possible),
    wait until every valid event is stored (or ``settle_s`` passed since the last publish)."""
    with tempfile.TemporaryDirectory(prefix="gl-ingest-") as tmp:
        root = Path(tmp)
        with Mosquitto(workdir=root / "mq", log_types=QUIET) as broker:
            (root / "sys").mkdir()
            system = factory(root / "sys", broker, stream).start()
            try:
                publisher = Publisher(
                    broker.host, broker.port, broker.observer_account, stream.messages, rate
                )
                watcher = Watcher(system.db_path, system.query).start()
                publisher.go()
                sent, _acked = publisher.result()
                watcher.wait_for(set(stream.valid), settle_s)
                watcher.stop()
                return verdict(system.name, stream, watcher, sent, rate)
            finally:
                system.stop()


def systems() -> dict[str, Factory]:
    from .gridlink import GridlinkHub

    out: dict[str, Factory] = {"gridlink": lambda w, b, s: GridlinkHub(w, b, s, {})}
    try:
        from . import peers

        out.update(peers.FACTORIES)
    except ImportError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("system")
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=None)
    args = parser.parse_args()
    stream = make_stream(args.devices, args.events)
    t0 = time.monotonic()
    out = measure(systems()[args.system], stream, args.rate)
    print(json.dumps(out.as_json(), indent=1), f"(run {time.monotonic() - t0:.1f} s)")


if __name__ == "__main__":
    main()
