"""Snippets for the gate tests (MicroPython scripts): a Device on a fake link (scripts.DEVICE)
with a gate app, its lists seeded through acl.Lists.sync, helpers that print what the outbox
holds."""

from __future__ import annotations

import hashlib
import json

from tests.firmware.scripts import DEVICE, WAIT_UNTIL

COMMUNITY = "330102001001"
NOW = 1764570000


def pin_digest(pin: str) -> str:
    return hashlib.sha256(f"pin:{pin}".encode()).hexdigest()


def person(pid: str, **kw: object) -> dict:
    e: dict = {
        "op": "put",
        "t": "person",
        "id": pid,
        "kind": "resident",
        "from": 0,
        "to": None,
        "doors": ["*"],
        "sched": None,
        "black": False,
        "cards": [],
        "qr": [],
        "pins": [],
        "duress": [],
        "face": None,
    }
    e.update(kw)
    return e


def vehicle(plate: str, pid: str, **kw: object) -> dict:
    e: dict = {
        "op": "put",
        "t": "vehicle",
        "plate": plate,
        "person": pid,
        "from": 0,
        "to": None,
        "doors": ["*"],
        "black": False,
    }
    e.update(kw)
    return e


# the list most tests use
ENTRIES = [
    person(
        "p-12",
        cards=["04A1B2C3"],
        pins=[pin_digest("1234")],
        duress=[pin_digest("9999")],
        face="t-0001",
        qr=["q-9f2c"],
    ),
    person("p-13", cards=["04B0B0B0"], face="t-0002"),
    person("p-40", cards=["04DEAD00"], kind="visitor", to=NOW - 3600),
    person("p-66", cards=["04BAD666"], black=True),
    person("p-70", cards=["04D2D2D2"], doors=["d2"]),
    vehicle("浙A12345", "p-12"),
    vehicle("浙B66666", "p-66", black=True),
]

PEOPLE = {"p-12": 93, "p-13": 88}
TEMPLATES = {"t-0001": "p-12", "t-0002": "p-13"}

FACE_HAL = {
    "face": "sim",
    "camera": "sim",
    "lock": "sim",
    "door": "sim",
    "exit": "sim",
    "card": "sim",
    "keypad": "sim",
    "tamper": "sim",
    "help": "sim",
    "battery": "none",
}
ACCESS_HAL = {k: v for k, v in FACE_HAL.items() if k not in ("face", "camera")}
BARRIER_HAL = {
    "plate": "sim",
    "camera": "sim",
    "barrier": "sim",
    "loop": "sim",
    "card": "sim",
    "tamper": "sim",
    "help": "sim",
    "battery": "none",
}
DOORS = [
    {"id": "d1", "dir": "in", "fail": "secure", "open_ms": 3000, "held_open_s": 30},
    {"id": "d2", "dir": "out", "fail": "open", "open_ms": 3000, "held_open_s": 30},
]


def gate_cfg(app: str = "face", **over: object) -> dict:
    hal = {"face": FACE_HAL, "access": ACCESS_HAL, "barrier": BARRIER_HAL}[app]
    cfg: dict = {
        "app": app,
        "community": COMMUNITY,
        "doors": DOORS,
        "hal": hal,
        "sim": {"people": PEOPLE, "templates": TEMPLATES},
        "capture_bytes": 2000,
        "batch_events": 8,
        "batch_s": 5,
        "outbox_bytes": 4 * 1024 * 1024,
    }
    cfg.update(over)
    return cfg


GATE = (
    DEVICE
    + WAIT_UNTIL
    + """
import acl, gate
from outbox import rec_payload
ENTRIES = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else None
APPS = {"access": "apps.access", "face": "apps.face", "barrier": "apps.barrier"}

def seed_lists(root, entries, version=1):
    ls = acl.Lists(root + "/acl")
    if entries is not None:
        print("SEED", ls.sync({"mode": "full", "base": 0, "version": version, "part": 1,
                                "parts": 1, "entries": entries}))

def make(link=NoLink, seed=True):
    d = Device(cfg, h, cfg["flash"], link_factory=link)
    if seed:
        seed_lists(d.root, ENTRIES)
    mod = __import__(APPS[cfg["app"]], None, None, ["x"])
    cls = {"access": "Access", "face": "Face", "barrier": "Barrier"}[cfg["app"]]
    return d, getattr(mod, cls)(d, h, cfg)

def envelopes(d, kind="access"):
    out = []
    for rec in d.outbox.iter():
        env = envelope.parse(rec_payload(rec))
        if env["kind"] == kind:
            out.append(env)
    return out

def dump(d):
    # one line per access envelope: its event count, blobs, hist flag; one line per event
    for env in envelopes(d):
        print("ENV", json.dumps({"seq": env["seq"], "n": len(env["body"]["events"]),
                                 "blobs": len(env["blobs"]), "hist": env.get("hist", False),
                                 "community": env["body"]["community"]}))
        for ev in env["body"]["events"]:
            print("EV", json.dumps(ev))

def play(g, *acts):
    async def go():
        for a in acts:
            await g.hal.inputs.play(a)
    return go()
"""
)


def parse(out: str) -> tuple[list[dict], list[dict]]:
    """(envelopes, events) a script printed with dump()."""
    envs = [json.loads(line[4:]) for line in out.splitlines() if line.startswith("ENV ")]
    evs = [json.loads(line[3:]) for line in out.splitlines() if line.startswith("EV ")]
    return envs, evs


def entries_file(tmp_path, entries: list[dict] | None = None) -> str:
    """The list entries in a file (a long JSON argument crashes the unix port's argv)."""
    path = tmp_path / "entries.json"
    path.write_text(json.dumps(ENTRIES if entries is None else entries, ensure_ascii=False))
    return str(path)
