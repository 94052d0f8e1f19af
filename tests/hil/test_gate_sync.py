"""Issue 9's list sync, consent withdrawal and remote commands at the gates, on real processes:
gate firmware on `micropython` at Fleet.add_gate's default heap (512K when written: the face
terminal's live high-water is about 250 KB, docs/firmware.md), a real Mosquitto and the real
hub, which builds and sends every list_sync part itself from changes made through its API.

What is asserted is what the hub stored (the access log, acks, the versions the gates report)
and what a technician could see on the device from outside: the list version in force on its
flash (`acl/cur`), the staged sync (`acl/stage/hdr`), the templates its face module holds
(`face.db`) and the relay's moves (the sim relay's `relay_log`, one "<door> 1|0" line a move).

The gates read credentials in a loop (a card or face every half second, `probe_script`), so
the decisions cover the whole test; each probe is chosen so that its decision differs between
the list versions involved, and the tests check that every decision matches one version and
that they switch once, at the sync, never back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from protocol import crypto, topics
from simulator import NetProxy
from tests.support.gates import ACCESS, access_log, consent, list_status, person, put_person
from tests.support.gates import withdraw
from tests.support.waiting import device_state, wait_until

pytestmark = pytest.mark.hil

GRID = "33010200100101"
COMMUNITY = GRID[:12]
DAY = 86400


# --- helpers --------------------------------------------------------------------------------


def card(n: int) -> str:
    return f"04{n:06X}"


def pid(n: int) -> str:
    return f"p-{n:04d}"


def resident(n: int, now: int, **changes: Any) -> dict[str, Any]:
    """Person p-<n> with card 04<n>, valid from a week ago, no end (``changes`` override)."""
    e = {"t": "person", "id": pid(n), "kind": "resident", "from": now - 7 * DAY, "to": None,
         "doors": ["*"], "sched": None, "black": False, "cards": [card(n)]}  # fmt: skip
    e.update(changes)
    return e


def delete_person(hub, person_id: str) -> None:
    resp = hub.api.delete(f"{ACCESS}/communities/{COMMUNITY}/people/{quote(person_id)}")
    assert resp.status_code == 200, f"delete {person_id}: {resp.status_code} {resp.text}"


def probe_script(reads: list[dict[str, Any]], cycles: int, every_s: float = 0.5) -> list[dict]:
    """``reads`` in turn, ``every_s`` apart, ``cycles`` times, then the end. Pauses are "wait"
    actions (not "at" times), so after a restart the scenario resumes where it was."""
    acts: list[dict] = []
    for _ in range(cycles):
        for r in reads:
            acts.append({"at": 0, **r})
            acts.append({"at": 0, "do": "wait", "s": every_s})
    acts.append({"at": 0, "do": "end"})
    return acts


def flash_version(dev) -> int:
    """The list version in force on the gate's flash (acl/cur "<gen> <version>"; 0: none)."""
    try:
        return int((dev.flash_dir / "acl" / "cur").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def staged(dev) -> dict[str, Any] | None:
    """The header of the sync the gate has staged (acl/stage/hdr), or None."""
    try:
        return json.loads((dev.flash_dir / "acl" / "stage" / "hdr").read_text())
    except (OSError, ValueError):
        return None


def reported(hub, dev_id: str) -> int | None:
    """The list version the hub last heard from the gate (birth, heartbeat or ack)."""
    for d in list_status(hub, COMMUNITY)["devices"]:
        if d["device_id"] == dev_id:
            return d["version"]
    return None


def wait_in_step(hub, dev, version: int, timeout: float = 240) -> None:
    """The gate reports ``version`` to the hub and has it in force on flash."""
    wait_until(
        f"{dev.device_id} at list version {version}",
        lambda: reported(hub, dev.device_id) == version and flash_version(dev) == version,
        timeout,
        interval=0.25,
        detail=lambda: f"reported {reported(hub, dev.device_id)}, flash {flash_version(dev)}, "
        f"staged {staged(dev)}\n{syncs(hub, dev.device_id)}\n{dev.log()[-3000:]}",
    )


def syncs(hub, dev_id: str) -> list[dict[str, Any]]:
    """The gate's list_sync commands, oldest first."""
    cmds = hub.get(f"/api/devices/{dev_id}/commands", limit=1000)
    return sorted((c for c in cmds if c["op"] == "list_sync"), key=lambda c: c["cseq"])


def decisions(hub, dev_id: str) -> list[dict[str, Any]]:
    """The gate's stored decisions (granted / denied), in decision order (seq, idx)."""
    return [r for r in access_log(hub, device_id=dev_id) if r["ev"] in ("granted", "denied")]


def outcome(row: dict[str, Any]) -> tuple[str, str | None]:
    return row["ev"], row["reason"]


def phases(
    rows: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], str],
    expected: list[dict[str, tuple[str, str | None]]],
) -> list[int]:
    """The list version (index into ``expected``, oldest first) each decision was made from.
    A decision several versions explain stays in the current one. AssertionError for a
    decision no version explains (a list applied half), or one only an older version than an
    earlier decision's explains (an old version back in force)."""
    out: list[int] = []
    cur = 0
    for r in rows:
        k = key(r)
        fits = [i for i, want in enumerate(expected) if want.get(k) == outcome(r)]
        assert fits, f"decision {r['seq']}/{r['idx']} {k}: {outcome(r)} fits no list version"
        later = [i for i in fits if i >= cur]
        assert later, (
            f"decision {r['seq']}/{r['idx']} {k}: {outcome(r)} is version {fits} after {cur}: "
            f"{out}"
        )
        cur = later[0]
        out.append(cur)
    return out


def card_key(row: dict[str, Any]) -> str:
    return f"card {row['credential']}"


# --- 1. an incremental delta of 1,000 entries -----------------------------------------------


def test_delta_of_1000_entries_applied_and_decisions_follow_it(hub, fleet):
    """Heap: Fleet.add_gate's default. 600 residents reach the gate by the hub's full sync;
    then 1,000 changes through the API (400 added, 300 changed, 300 deleted), made while the
    hub's worker is away, reach it as one delta from its version, in several parts; the new version is reported and decided by."""
    now = int(time.time())
    for n in range(1, 601):
        changes = {"to": now - DAY} if n == 2 else {}  # p-0002 expired: valid again in v1
        put_person(hub, COMMUNITY, resident(n, now, **changes))
    v0 = list_status(hub, COMMUNITY)["version"]
    # p-1001 added, p-0301 deleted, p-0001 expires, p-0002 valid again
    probes = [card(1001), card(301), card(1), card(2)]
    old = {f"card {card(1001)}": ("denied", "unknown"), f"card {card(301)}": ("granted", None),
           f"card {card(1)}": ("granted", None), f"card {card(2)}": ("denied", "expired")}  # fmt: skip
    new = {f"card {card(1001)}": ("granted", None), f"card {card(301)}": ("denied", "unknown"),
           f"card {card(1)}": ("denied", "expired"), f"card {card(2)}": ("granted", None)}  # fmt: skip
    none = dict.fromkeys(old, ("denied", "unknown"))  # before the first sync: no list
    script = probe_script([{"do": "card", "card": c} for c in probes], cycles=400)
    gate = fleet.add_gate("gt-acc-delta", "access", GRID, scenario=script)
    hub.register(gate)
    gate.start()
    wait_in_step(hub, gate, v0)
    full = syncs(hub, gate.device_id)
    assert full and all(c["args"]["mode"] == "full" for c in full), full
    wait_until(
        "decisions from the first version",
        lambda: phases(decisions(hub, "gt-acc-delta"), card_key, [none, old]).count(1) >= 8,
    )

    # the hub's worker away while the operator edits, so the gate gets the 1,000 changes as
    # one delta (online, it would get a delta of the few made since each dispatcher pass)
    hub.stop_ingest()
    t0 = time.monotonic()
    for n in range(1001, 1401):
        put_person(hub, COMMUNITY, resident(n, now))
    for n in range(1, 301):
        put_person(hub, COMMUNITY, resident(n, now, to=now - DAY if n != 2 else None))
    for n in range(301, 601):
        delete_person(hub, pid(n))
    api_s = time.monotonic() - t0
    v1 = list_status(hub, COMMUNITY)["version"]
    assert v1 == v0 + 1000
    hub.start_ingest()
    wait_in_step(hub, gate, v1, timeout=300)
    sync_s = time.monotonic() - t0 - api_s

    delta = [c for c in syncs(hub, gate.device_id) if c["args"]["mode"] == "delta"]
    parts = delta[0]["args"]["parts"]
    assert parts >= 3 and len(delta) == parts, [(c["args"]["part"], c["status"]) for c in delta]
    assert all(c["args"]["base"] == v0 and c["args"]["version"] == v1 for c in delta)
    assert [c["args"]["part"] for c in delta] == list(range(1, parts + 1))
    assert all(c["status"] == "succeeded" for c in delta), [c["detail"] for c in delta]
    assert [c["detail"] for c in delta] == [f"staged {i}/{parts}" for i in range(1, parts)] + [
        f"applied {v1}"
    ]
    assert sum(len(c["args"]["entries"]) for c in delta) == 1000
    assert staged(gate) is None  # the staging went into the new version, nothing left over

    # the decisions: the first version, then the new one from the switch on, never mixed
    def enough_new() -> list[int] | None:
        rows = decisions(hub, "gt-acc-delta")
        ph = phases(rows, card_key, [none, old, new])
        return ph if ph.count(2) >= 12 else None

    ph = wait_until("decisions from the new version stored", enough_new, 120)
    assert ph.count(1) >= 8, ph
    assert hub.errors() == {}
    print(f"\n1,000-entry delta: {parts} parts, API {api_s:.1f}s, delta sync {sync_s:.1f}s")
