"""Workers on the hub, on a MicroPython handheld: the hub's PIN (PBKDF2) reaches the grid's
handheld in a signed worker list that replaces the provisioned one; wrong PINs lock an id out;
sign-in sessions (worker, idle, removed) become the worker's online time; a report is checked
against the session it was made in."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from hub.workers.models import DeviceWorkerList
from simulator import scenarios
from tests.support.waiting import wait_until

GRID = "33010200100101"  # the demo's first grid; its worker is w00100101
WORKER = "w00100101"
PIN = "2468"


def _held_version(hub, dev_id: str) -> str | None:
    row = hub._db(lambda s: s.scalar(select(DeviceWorkerList.version).where(
        DeviceWorkerList.device_id == dev_id)))  # fmt: skip
    return row


def _signins(hub, dev_id: str) -> list[dict]:
    return [e["body"] for e in hub.events(dev_id, "signin")]


def test_the_hubs_pin_reaches_the_handheld_and_wrong_pins_lock_the_id(hub, fleet, wire):
    resp = hub.api.put(f"/api/workers/{WORKER}/pin", json={"pin": PIN})
    assert resp.status_code == 200, resp.text
    assert "pin" not in resp.json() and resp.json()["iterations"] >= 1000
    dev = fleet.add_handheld(
        "hh-roster",
        GRID,
        # provisioned with the worker's old PIN: the hub's list must replace it
        scenario=[{"at": 0, "do": "wait", "s": 0}, {"at": 600, "do": "end"}],
        workers={WORKER: scenarios.pin_record("1111")},
        pin_tries=3,
        pin_lock_s=600,
    )
    hub.register(dev)
    dev.start()
    wire.wait("the device's birth", lambda: wire.online(dev.device_id))
    version = wait_until("the worker list applied", lambda: _held_version(hub, dev.device_id))
    assert len(version) == 16
    (cmd,) = [c for c in hub.device(dev.device_id)["commands"] if c["op"] == "workers"]
    assert cmd["status"] == "succeeded" and cmd["detail"] == f"applied {version}"
    # the API shows the list's version and ids, never the PIN records
    assert cmd["args"] == {"v": version, "grid": GRID, "workers": [WORKER]}
    dev.kill()
    w = WORKER
    dev.update_config(sim={**dev.config["sim"], "scenario": str(scenarios.write_jsonl([
        {"at": 0, "do": "wait", "s": 0},  # (already played before the restart)
        {"at": 0, "do": "signin", "worker": w, "pin": "1111"},  # the provisioned PIN: gone
        {"at": 0, "do": "signin", "worker": w, "pin": PIN},
        {"at": 0, "do": "report", "category": "garbage", "text": "签到后上报", "photos": 0},
        {"at": 0, "do": "signout"},
        {"at": 0, "do": "signin", "worker": "a0010101", "pin": PIN},  # no PIN on the hub
        {"at": 0, "do": "signin", "worker": w, "pin": "0000"},
        {"at": 0, "do": "signin", "worker": w, "pin": "0000"},
        {"at": 0, "do": "signin", "worker": w, "pin": "0000"},  # the third in a row: locked
        {"at": 0, "do": "signin", "worker": w, "pin": PIN},  # right, but locked out
        {"at": 0, "do": "end"},
    ], dev.root / "scenario2.jsonl"))})  # fmt: skip
    dev.start()

    def attempts() -> list[dict] | None:
        bodies = _signins(hub, dev.device_id)
        return bodies if len(bodies) >= 7 else None

    bodies = wait_until("seven sign-in attempts stored", attempts)
    got = [(b["worker"], b["ok"], b.get("fails"), b.get("locked")) for b in bodies]
    assert got == [
        (w, False, 1, False),  # the provisioned PIN no longer opens
        (w, True, None, None),
        ("a0010101", False, 1, False),  # on the grid, but no PIN on the hub: not on the list
        (w, False, 1, False),  # the right sign-in reset the count
        (w, False, 2, False),
        (w, False, 3, True),
        (w, False, 0, True),  # the right PIN while locked out: refused, never checked
    ], got
    failures = hub.get(f"/api/workers/{w}/signin-failures")
    assert sorted((f["fails"], f["locked"]) for f in failures) == [
        (0, True), (1, False), (1, False), (2, False), (3, True)]  # fmt: skip
    (session,) = hub.get(f"/api/workers/{w}/sessions")
    assert (session["device_id"], session["grid_code"], session["listed"]) == (
        dev.device_id, GRID, True)  # fmt: skip
    assert session["end_reason"] == "worker" and session["ended_ts"] >= session["started_ts"]
    (check,) = hub.get("/api/worker-checks", device_id=dev.device_id)
    assert (check["kind"], check["worker_id"], check["status"]) == ("report", w, "signed_in")
    assert hub.errors() == {}


def test_idle_and_removed_workers_are_signed_out_and_sessions_make_online_time(hub, fleet, wire):
    assert hub.api.put(f"/api/workers/{WORKER}/pin", json={"pin": PIN}).status_code == 200
    w = WORKER
    dev = fleet.add_handheld(
        "hh-idle",
        GRID,
        scenario=[
            {"at": 0, "do": "signin", "worker": w, "pin": PIN},
            {"at": 0, "do": "report", "category": "garbage", "text": "巡查", "photos": 0},
            {"at": 0, "do": "wait", "s": 6},  # no use for longer than idle_signout_s
            {"at": 0, "do": "report", "category": "garbage", "text": "not sent", "photos": 0},
            {"at": 0, "do": "wait", "s": 15},  # the hub turns idle sign-out off meanwhile
            {"at": 0, "do": "signin", "worker": w, "pin": PIN},
            {"at": 600, "do": "end"},
        ],
        # the same PIN provisioned: the sign-in works before and after the hub's list
        workers={w: scenarios.pin_record(PIN)},
        idle_signout_s=3,
    )
    hub.register(dev)
    dev.start()
    outs = wait_until("the idle sign-out stored",
                      lambda: hub.events(dev.device_id, "signout") or None, timeout=60)  # fmt: skip
    assert [o["body"]["reason"] for o in outs] == ["idle"]
    off = hub.send(dev.device_id, "config", {"idle_signout_s": 0})
    wait_until("idle sign-out off", lambda: hub.command(off["id"])["status"] == "succeeded")
    wait_until("signed in again", lambda: len(hub.events(dev.device_id, "signin")) == 2)
    assert len(hub.events(dev.device_id, "report")) == 1  # the idle one could not report
    wait_until("the worker list applied", lambda: _held_version(hub, dev.device_id))
    # the worker leaves the grid: the new list signs them out on the handheld
    resp = hub.api.delete(f"/api/workers/{w}/grids/{GRID}")
    assert resp.status_code == 200, resp.text

    def two_signouts() -> list[dict] | None:
        outs = hub.events(dev.device_id, "signout")
        return outs if len(outs) == 2 else None

    outs = wait_until("the removed sign-out stored", two_signouts, timeout=60)
    assert outs[1]["body"]["reason"] == "removed"
    assert GRID not in resp.json()["grid_codes"]
    sessions = sorted(hub.get(f"/api/workers/{w}/sessions"), key=lambda s: s["start_seq"])
    assert [s["end_reason"] for s in sessions] == ["idle", "removed"]
    first, second = sessions
    # the idle sign-out came idle_signout_s after the last action; the session ends at that
    # action (the report), not at the sign-out
    idle_out = outs[0]
    assert idle_out["ts"] - first["started_ts"] >= 3
    assert first["ended_ts"] == idle_out["body"]["last_active"] < idle_out["ts"]
    assert 0 <= first["ended_ts"] - first["started_ts"] <= 2
    # online time is the sessions' length: the month's figures say so
    month = hub.get("/api/stats/workers", month=_month(first["started_ts"]))
    mine = {r["worker_id"]: r["online_s"] for r in month}
    spans = sum(s["ended_ts"] - s["started_ts"] for s in sessions)
    assert mine.get(w) == spans, (mine, sessions)
    assert hub.errors() == {}


def _month(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")
