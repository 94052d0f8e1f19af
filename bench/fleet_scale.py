"""Fleet scale (issue 14): 20,000 simulated handhelds connected at once on this box, through the
locked-down Mosquitto, to ``gridlink hub run``.  ``python -m bench fleet_scale``.

The devices run the firmware's own code under CPython (simulator/crowd.py: two processes, one
asyncio loop each), idle and signed in, with the firmware's default backoff (0.5-30 s,
jittered) and a heartbeat every ``HEARTBEAT_S``. Measured:

- connect: from starting the crowd until every device is connected, and until the hub holds
  every one online (its birth verified and applied);
- memory: resident memory of the crowd per device, of the hub (its process and the verify
  helper) and of the broker(s);
- heartbeat load: heartbeats stored per second over one heartbeat period, once every device's
  first heartbeat is stored, and the hub's CPU for them;
- the reconnect storm: every broker restarted (graceful stop, persistence on), then the time
  until every device is online at the hub again in a new session, and the false offline
  states: devices the hub holds offline, or whose last presence change is an offline one,
  while the device is connected (a late will from an old session must never do that).

File descriptors: a broker holds one per connection. This box's hard ``RLIMIT_NOFILE`` is
20,000 and a process without CAP_SYS_RESOURCE cannot raise it, so when the fleet does not fit
one broker the devices are spread over several brokers, each bridged to the hub's (the edge
broker path of docs/scale-out.md). Where the limit can be raised (``LimitNOFILE=`` in the
broker's systemd unit, ``ulimit -n`` before starting it) one broker takes them all.
``GRIDLINK_BENCH_FLEET`` sets the fleet size (default 20,000).
"""

from __future__ import annotations

import os
import resource
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import create_engine, text

from bench.ingest_peers.gridlink import GridlinkHub
from bench.results import Report, Row
from hub.broker_admin import device_acls, device_role_name
from hub.ingest.runner import use_openssl
from hub.keys import load_or_create
from hub.settings import Settings
from protocol import topics
from provisioning import broker as config
from simulator import Fleet, scenarios
from simulator.crowd import Crowd, rss_kb
from tests.support.mosquitto import Mosquitto

SUITE = "fleet_scale"
DEVICES = int(os.environ.get("GRIDLINK_BENCH_FLEET", "20000"))
HEARTBEAT_S = 60
PROCS = 2  # crowd processes (one per core)
RESERVED_FDS = 64  # a broker's own descriptors (listeners, log, persistence, the hub, bridges)
CONNECT_TIMEOUT_S = 600.0
BRIDGE_ROLE = "bridge"
LOG_TYPES = tuple(os.environ.get("GL_FLEET_BROKER_LOG", "error,warning").split(","))
# the devices' flash directories: in memory where there is a tmpfs. On ext4 each state save
# (write a temporary file, rename it over the old) makes the kernel flush the new file's data
# at the rename, and 20,000 devices did little but wait on the disk
FLASH_PARENT = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
GRID = "33010200100101"  # the config's grid (the hub binds each device to a grid of its own)


@dataclass
class Figures:
    devices: int
    brokers: int
    nofile: int
    connected_s: float = 0.0
    online_s: float = 0.0
    crowd_kb_per_device: float = 0.0
    hub_mb: float = 0.0
    broker_mb: float = 0.0
    heartbeats_per_s: float = 0.0
    hub_cpu_pct: float = 0.0
    hub_cpu_us_per_heartbeat: float = 0.0
    storm_online_s: float | None = None
    storm_connects: int = 0
    lag_ms: int = 0  # the crowd's worst loop lateness over the whole run
    connect_failures: int = 0  # failed connection attempts and dropped connections, at start
    storm_failures: int = 0  # the same, from the restart on
    wills_applied: int = 0
    false_offline: int = -1
    failed: int = 0
    heartbeat_s: int = HEARTBEAT_S


def _raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (the hub's verify helper)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return out


def _rss_kb(pids: list[int]) -> int:
    return sum(rss_kb(pid) for pid in pids)


def _cpu_s(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def _bridge_acls() -> list[dict[str, Any]]:
    """An edge broker's bridge: sends the devices' channels, receives what goes to them."""
    base = topics.PREFIX + "/+"
    acls = [
        {"acltype": "publishClientSend", "topic": f"{base}/{ch}", "priority": 0, "allow": True}
        for ch in ("evt/+", "blob", "ack", "state", "fwreq")
    ]
    for topic in (f"{base}/cmd", f"{base}/rcpt", f"{base}/fw", topics.HUB_STATE):
        for kind in ("subscribePattern", "publishClientReceive"):
            acls.append({"acltype": kind, "topic": topic, "priority": 0, "allow": True})
    return acls


def _bridge_conf(name: str, password: str, core: Mosquitto) -> str:
    lines = [
        f"connection {name}",
        f"address {core.host}:{core.port}",
        "bridge_protocol_version mqttv311",
        f"remote_clientid {name}",
        f"remote_username {name}",
        f"remote_password {password}",
        "cleansession false",
        "try_private true",
        "notifications false",
        "restart_timeout 1 5",
    ]
    lines += [f"topic {topics.PREFIX}/+/{ch} out 1" for ch in ("evt/+", "blob", "ack", "state")]
    lines += [f"topic {topics.PREFIX}/+/fwreq out 1"]
    lines += [f"topic {topics.PREFIX}/+/{ch} in 1" for ch in ("cmd", "rcpt", "fw")]
    lines += [f"topic {topics.HUB_STATE} in 1"]
    return "\n".join(lines)


def _accounts(ids: list[str], creds: dict[str, str]) -> tuple[tuple[config.Account, ...], dict]:
    accounts = tuple(
        config.Account(d, creds[d], (device_role_name(d),), clientid=d, textname="bench device")
        for d in ids
    )
    return accounts, {device_role_name(d): device_acls(d) for d in ids}


class _Keys:
    """What GridlinkHub registers: device id -> public key."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys = keys


def measure(
    n: int = DEVICES, per_broker: int | None = None, heartbeat_s: int = HEARTBEAT_S
) -> Figures:
    """``per_broker``: devices one broker takes (default: what RLIMIT_NOFILE allows);
    ``heartbeat_s``: the devices' heartbeat period, also the heartbeat window."""
    use_openssl()  # the devices' keys and the hub's: OpenSSL
    nofile = _raise_nofile()
    per_broker = per_broker or nofile - RESERVED_FDS
    groups = -(-n // per_broker)
    ids = [f"hh-{i:05d}" for i in range(n)]
    parts = [ids[g::groups] for g in range(groups)]
    creds = {d: secrets.token_urlsafe(12) for d in ids}
    fig = Figures(devices=n, brokers=groups, nofile=nofile, heartbeat_s=heartbeat_s)
    with (
        tempfile.TemporaryDirectory(prefix="gl-fleet-") as tmp,
        tempfile.TemporaryDirectory(prefix="gl-fleet-flash-", dir=FLASH_PARENT) as flash,
    ):
        root = Path(tmp)
        flash_root = Path(flash)
        brokers: list[Mosquitto] = []
        bridges = {f"bridge-{g}": secrets.token_urlsafe(16) for g in range(1, groups)}
        accounts, roles = _accounts(parts[0], creds)
        bridge_accounts = tuple(
            config.Account(b, pw, (BRIDGE_ROLE,), clientid=b) for b, pw in bridges.items()
        )
        core = Mosquitto(
            workdir=root / "broker-0", persistence=True, log_types=LOG_TYPES,
            accounts=accounts + bridge_accounts, roles={**roles, BRIDGE_ROLE: _bridge_acls()},
        )  # fmt: skip
        brokers.append(core)
        for g in range(1, groups):
            accounts, roles = _accounts(parts[g], creds)
            name = f"bridge-{g}"
            brokers.append(
                Mosquitto(
                    workdir=root / f"broker-{g}",
                    persistence=True,
                    log_types=LOG_TYPES,
                    accounts=accounts,
                    roles=roles,
                    extra_conf=_bridge_conf(name, bridges[name], core),
                )  # fmt: skip
            )
        hub = None
        crowd = None
        try:
            for b in brokers:
                b.start(timeout=60)
            hub_dir = root / "hub"
            hub_dir.mkdir()
            hub_key = load_or_create(Settings(env="development", data_dir=hub_dir).hub_key_path)
            fleet = Fleet(
                core.host, core.port, root=flash_root, hub_seed=hub_key.seed,
                accounts=lambda d: (d, creds[d]),
                defaults={"log_level": "warning", "heartbeat_s": heartbeat_s, "track_s": 0,
                          "backoff_min_ms": 500, "backoff_max_ms": 30000},
            )  # fmt: skip
            script = scenarios.write_jsonl(scenarios.idle(7200), root / "idle.jsonl")
            devs = []
            for g, part in enumerate(parts):
                port = brokers[g].port
                for d in part:
                    devs.append(
                        fleet.add_handheld(d, GRID, scenario=str(script), broker={"port": port})
                    )
            keys = {d.device_id: d.public_key for d in devs}
            hub = GridlinkHub(hub_dir, core, _Keys(keys), {}).start()  # type: ignore[arg-type]
            db = create_engine(f"sqlite:///{hub.db_path}")

            def online() -> int:
                with db.connect() as c:
                    return int(
                        c.execute(text("SELECT count(*) FROM devices WHERE online")).scalar_one()
                    )

            crowd = Crowd(devs, procs=PROCS, root=root).start()
            t0 = time.monotonic()
            s = crowd.wait(lambda s: s.up == n, CONNECT_TIMEOUT_S)
            fig.connected_s = time.monotonic() - t0
            fig.connect_failures = s.failures
            _until(lambda: online() == n, CONNECT_TIMEOUT_S, "devices online at the hub")
            fig.online_s = time.monotonic() - t0
            hub_pids = _tree_pids(hub.proc.pid)  # type: ignore[union-attr]
            broker_pids = [b.proc.pid for b in brokers if b.proc]
            s = crowd.status()
            fig.crowd_kb_per_device = s.rss_kb / n
            fig.hub_mb = _rss_kb(hub_pids) / 1024
            fig.broker_mb = _rss_kb(broker_pids) / 1024

            # heartbeat load: a window after the births' own work is done
            def heartbeats() -> int:
                with db.connect() as c:
                    q = "SELECT count(*) FROM events WHERE kind = 'heartbeat'"
                    return int(c.execute(text(q)).scalar_one())

            # every device's first heartbeat (sent at start) stored: the births' work is done
            _until(lambda: heartbeats() >= n, CONNECT_TIMEOUT_S, "first heartbeats stored")
            h0, c0, w0 = heartbeats(), _cpu_s(hub_pids), time.monotonic()
            time.sleep(heartbeat_s)
            h1, c1, w1 = heartbeats(), _cpu_s(hub_pids), time.monotonic()
            fig.heartbeats_per_s = (h1 - h0) / (w1 - w0)
            fig.hub_cpu_pct = 100 * (c1 - c0) / (w1 - w0)
            if h1 > h0:
                fig.hub_cpu_us_per_heartbeat = 1e6 * (c1 - c0) / (h1 - h0)

            # the reconnect storm
            s = crowd.status()
            connects0, failures0 = s.connects, s.failures
            with db.connect() as c:
                sessions0 = dict(c.execute(text("SELECT id, session FROM devices")).all())
                offline0 = c.execute(
                    text("SELECT count(*) FROM device_presence WHERE NOT online")
                ).scalar_one()
            t1 = time.monotonic()
            for b in brokers:
                b.stop()
            for b in brokers:
                b.start(timeout=60)

            def reborn() -> int:
                with db.connect() as c:
                    rows = c.execute(text("SELECT id, session FROM devices WHERE online")).all()
                return sum(1 for dev, sess in rows if sess > sessions0.get(dev, 0))

            _until(
                lambda: reborn() == n, CONNECT_TIMEOUT_S, "devices online again after the restart"
            )
            fig.storm_online_s = time.monotonic() - t1
            crowd.wait(lambda s: s.up == n, 60)
            time.sleep(5.0)  # late wills would land by now
            s = crowd.status()
            fig.storm_connects = s.connects - connects0
            fig.storm_failures = s.failures - failures0
            fig.lag_ms = s.lag_ms
            fig.failed = s.failed
            with db.connect() as c:
                fig.wills_applied = int(
                    c.execute(
                        text("SELECT count(*) FROM device_presence WHERE NOT online")
                    ).scalar_one()
                ) - int(offline0)
                last_offline = c.execute(text(
                    "SELECT count(*) FROM devices d WHERE NOT d.online OR NOT ("
                    " SELECT p.online FROM device_presence p WHERE p.device_id = d.id"
                    " ORDER BY p.id DESC LIMIT 1)"
                )).scalar_one()  # fmt: skip
            fig.false_offline = int(last_offline) if s.up == n else -1
            db.dispose()
        finally:
            if crowd is not None:
                crowd.kill()
            if hub is not None:
                hub.stop()
            for b in brokers:
                b.cleanup()
    return fig


def _until(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s")
        time.sleep(0.25)


def table(f: Figures) -> Table:
    t = Table(title=f"fleet scale: {f.devices:,} simulated handhelds (CPython crowd), "
                    f"{f.brokers} broker(s), RLIMIT_NOFILE {f.nofile:,}")  # fmt: skip
    t.add_column("figure")
    t.add_column("value", justify="right")
    for name, value in _lines(f):
        t.add_row(name, value)
    return t


def _lines(f: Figures) -> list[tuple[str, str]]:
    storm = "-" if f.storm_online_s is None else f"{f.storm_online_s:.1f} s"
    return [
        ("all connected (from start)", f"{f.connected_s:.1f} s"),
        ("all online at the hub (from start)", f"{f.online_s:.1f} s"),
        ("failed or dropped connections at start", f"{f.connect_failures:,}"),
        ("crowd memory per device", f"{f.crowd_kb_per_device:.0f} KB"),
        ("hub memory (process + verify helper)", f"{f.hub_mb:.0f} MB"),
        ("broker memory (all brokers)", f"{f.broker_mb:.0f} MB"),
        (f"heartbeats stored per s (every {f.heartbeat_s} s)", f"{f.heartbeats_per_s:.0f}"),
        ("hub CPU during heartbeats", f"{f.hub_cpu_pct:.0f} % of a core"),
        ("hub CPU per heartbeat", f"{f.hub_cpu_us_per_heartbeat:.0f} µs"),
        ("storm: all online again after the restart", storm),
        ("storm: reconnections", f"{f.storm_connects:,}"),
        ("storm: failed or dropped connections", f"{f.storm_failures:,}"),
        ("storm: wills applied (devices cut off)", f"{f.wills_applied:,}"),
        ("storm: false offline states", f"{f.false_offline}"),
        ("devices failed", f"{f.failed}"),
        ("crowd: worst loop lateness (its devices' own delay)", f"{f.lag_ms / 1000:.1f} s"),
    ]


def rows(f: Figures) -> list[Row]:
    details = {k: v for k, v in vars(f).items()}
    return [
        Row(SUITE, "devices connected and online at the hub", f.devices, "devices",
            target=">= 20,000", passed=f.devices >= 20000 and f.failed == 0, details=details),
        Row(SUITE, "time to all online at the hub", round(f.online_s, 1), "s"),
        Row(SUITE, "crowd memory per simulated device", round(f.crowd_kb_per_device, 1), "KB"),
        Row(SUITE, "hub memory", round(f.hub_mb), "MB"),
        Row(SUITE, "broker memory", round(f.broker_mb), "MB"),
        Row(SUITE, "heartbeat load", round(f.heartbeats_per_s), "heartbeats/s",
            details={"hub_cpu_pct": round(f.hub_cpu_pct, 1),
                     "hub_cpu_us_per_heartbeat": round(f.hub_cpu_us_per_heartbeat)}),
        Row(SUITE, "reconnect storm: time to all online again",
            None if f.storm_online_s is None else round(f.storm_online_s, 1), "s"),
        Row(SUITE, "reconnect storm: false offline states", f.false_offline, "devices",
            target="0", passed=f.false_offline == 0),
    ]  # fmt: skip


def run() -> Report:
    f = measure()
    return Report(table(f), rows(f))


if __name__ == "__main__":
    import sys

    from rich.console import Console

    args = [int(a) for a in sys.argv[1:]]
    fig = measure(*args) if args else measure()
    Console(width=140).print(table(fig))
