"""Run one system on one stream through a fresh locked-down Mosquitto and judge what it stored.

``python -m bench.ingest_peers.measure gridlink --devices 1000 [--rate 1000]`` runs one case
and prints its figures (for profiling one system by hand); ``bench.ingest_peers`` runs them all.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
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
    profile: Path | None = None,
) -> Outcome:
    """Start the system, publish ``stream`` (at ``rate`` messages/s, or as fast as possible),
    wait until every valid event is stored (or ``settle_s`` passed since the last publish)."""
    with tempfile.TemporaryDirectory(prefix="gl-ingest-") as tmp:
        root = Path(tmp)
        with Mosquitto(workdir=root / "mq", log_types=QUIET) as broker:
            (root / "sys").mkdir()
            system = factory(root / "sys", broker, stream).start()
            spy = _py_spy(system, profile) if profile else None
            try:
                publisher = Publisher(
                    broker.host, broker.port, broker.observer_account, stream.messages, rate
                )
                watcher = Watcher(system.db_path, system.query).start()
                pids = {"system": _pid(system), "broker": broker.proc.pid if broker.proc else None}
                cpu0 = {k: _cpu_s(pid) for k, pid in pids.items()}
                publisher.go()
                sent, _acked, publisher_cpu = publisher.result()
                watcher.wait_for(set(stream.valid), settle_s)
                cpu = {k: _cpu_s(pid) - cpu0[k] for k, pid in pids.items()}
                cpu["publisher"] = publisher_cpu
                watcher.stop()
                if spy is not None:
                    spy.send_signal(signal.SIGINT)  # py-spy writes its samples on SIGINT
                    spy.wait(30)
                outcome = verdict(system.name, stream, watcher, sent, rate)
                outcome.cpu_s = cpu
                return outcome
            finally:
                system.stop()


def _pid(system: System) -> int | None:
    proc = getattr(system, "proc", None)
    return proc.pid if proc is not None else None


def _cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of ``pid`` and its threads so far (0 when unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _py_spy(system: System, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the system's process (folded stacks for a flame graph at ``out``)."""
    pid = system.proc.pid  # type: ignore[attr-defined]
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "-p",
            str(pid),
            "-o",
            str(out),
            "-f",
            "raw",
            "-r",
            "250",
            "--threads",
            *os.environ.get("GL_PYSPY_EXTRA", "").split(),  # e.g. --gil, --idle
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches (a profiling aid only, not part of a measurement)
    return spy


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
    parser.add_argument("--profile", type=Path, default=None, help="py-spy folded stacks out")
    args = parser.parse_args()
    stream = make_stream(args.devices, args.events)
    t0 = time.monotonic()
    out = measure(systems()[args.system], stream, args.rate, profile=args.profile)
    print(json.dumps(out.as_json(), indent=1), f"(run {time.monotonic() - t0:.1f} s)")


if __name__ == "__main__":
    main()
