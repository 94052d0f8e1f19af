"""Issue 16's must-show, end to end: a grid worker signs in on the grid's MicroPython handheld
(PIN from the hub, 192K heap), reports, visits a household, collects a resident record and
signs out; the hub's weekly statistics (the job run under a controllable clock) and monthly
ranking show exactly those figures; a report that names a worker not signed in on its device
is flagged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from hub.assessment import periods, weekly
from hub.clock import FrozenClock
from protocol import topics
from simulator import scenarios
from tests.builders.devices import TestDevice
from tests.support.hub import Hub
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver

GRID = "33010200100101"
NEXT_GRID = "33010200100102"  # the same community's next grid (one grid, one handheld)
WORKER = "w00100101"
PIN = "2468"
HOUSE = "330102001001-0305"
# no house code: a resident may name only a house already collected in the grid
RESIDENT = {"id_number": "330102198503120014", "name": "张伟", "gender": "1", "ethnicity": "01",
            "relation": "02"}  # fmt: skip


def test_a_workers_day_becomes_exact_weekly_and_monthly_figures(hub: Hub, fleet, broker) -> None:  # type: ignore[no-untyped-def]
    assert hub.api.put(f"/api/workers/{WORKER}/pin", json={"pin": PIN}).status_code == 200
    w = WORKER
    script = [
        {"at": 0, "do": "signin", "worker": w, "pin": PIN},
        {"at": 0.5, "do": "report", "category": "garbage", "text": "垃圾堆放", "photos": 1,
         "photo_bytes": 20_000},
        {"at": 1, "do": "visit", "place": {"kind": "household", "ref": HOUSE},
         "purpose": "care", "outcome": "met", "text": "走访独居老人"},
        {"at": 1.5, "do": "collect", "form": "resident", "record": RESIDENT},
        {"at": 3, "do": "signout"},
        {"at": 3, "do": "end"},
    ]  # fmt: skip
    dev = fleet.add_handheld("hh-day", GRID, scenario=script, heapsize="192K",
                             exit_when_done=True,
                             workers={w: scenarios.pin_record(PIN)})  # fmt: skip
    hub.register(dev)
    dev.start()
    assert dev.wait(120) == 0, dev.log()[-3000:]
    (signout,) = wait_until("the sign-out stored", lambda: hub.events(dev.device_id, "signout"))
    (signin,) = [e for e in hub.events(dev.device_id, "signin")]
    assert signin["body"]["ok"] is True and signout["body"]["reason"] == "worker"
    wait_until("the report's case", lambda: hub.get("/api/worker-checks", worker_id=w))

    # a report naming the worker from another grid's handheld the worker is not signed in on
    other = TestDevice("hh-rogue", now=lambda: int(datetime.now(UTC).timestamp()))
    resp = hub.api.post("/api/devices", json={"id": other.device_id, "kind": "handheld",
                                              "public_key": other.public_key.hex(),
                                              "grid_code": NEXT_GRID})  # fmt: skip
    assert resp.status_code == 201, resp.text
    account = resp.json()["broker"]
    body = {"category": "garbage", "text": "冒名上报", "loc": None, "grid": NEXT_GRID, "worker": w,
            "one_key": False}  # fmt: skip
    with MqttObserver(broker, topics=(topics.cmd(other.device_id),), client_id=other.device_id,
                      account=(account["username"], account["password"])) as rogue:  # fmt: skip
        rogue.publish(*other.event("report", body))
        wait_until("the rogue report stored", lambda: hub.events(other.device_id, "report"))
    checks = wait_until("both reports checked",
                        lambda: (c := hub.get("/api/worker-checks", worker_id=w)) and len(c) >= 4
                        and c)  # fmt: skip
    by_device = {(c["device_id"], c["kind"]): c["status"] for c in checks}
    assert by_device == {
        (dev.device_id, "report"): "signed_in",
        (dev.device_id, "visit"): "signed_in",
        (dev.device_id, "collect"): "signed_in",
        (other.device_id, "report"): "not_signed_in",
    }, checks
    flagged = hub.get("/api/worker-checks", status=["not_signed_in", "not_on_grid"])
    assert [(f["device_id"], f["kind"]) for f in flagged] == [(other.device_id, "report")]

    # the weekly job, run on a clock past the week's end, stores exactly that day
    settings = hub.settings
    now = datetime.now(UTC)
    this_week = periods.week_of(now, settings)
    later = FrozenClock(this_week.end + timedelta(hours=settings.weekly_stats_delay_hours + 1))

    def run(db_session: Session) -> list[str]:
        done = weekly.run_weekly_stats(db_session=db_session, clock=later, settings=settings)
        db_session.commit()
        return done

    assert this_week.label in hub._db(run)
    rows = hub.get(f"/api/assessment/weeks/{this_week.label}")
    mine = {r["worker_id"]: r for r in rows["workers"]}[w]
    online = signout["ts"] - signin["ts"]
    # the rogue's report names the worker too: counted as a report, never as a valid one
    assert (mine["reports"], mine["valid_reports"], mine["visits"], mine["collections"]) == (
        2, 1, 1, 1)  # fmt: skip
    assert mine["online_s"] == online
    month = now.strftime("%Y-%m")  # the ranking of the month, from the same figures
    ranking = hub.get("/api/assessment/ranking", month=month)
    street = next(a for a in ranking["streets"] if GRID.startswith(a["code"]))
    ranked = {r["worker_id"]: r for r in street["workers"]}[w]
    got = (ranked["reports"], ranked["valid_reports"], ranked["visits"], ranked["collections"],
           ranked["online_s"])  # fmt: skip
    assert got == (2, 1, 1, 1, online)
    assert ranked["rank"] == 1  # the only worker of the street who did anything
    assert hub.errors() == {}
