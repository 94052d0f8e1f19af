"""`make demo`'s smart compound (gridlink.demo.Compound) against the real broker and hub: the
gates start with no list and get it by the hub's list sync, consented residents are enrolled
at the face terminal by the hub's ``enrol`` command, a short morning rush fills the access log
with one correct decision per read, and the forced door becomes a case dispatched to the
community's office."""

from __future__ import annotations

import pytest

from gridlink.demo import GATES, Compound
from hub.clock import SystemClock
from hub.db import make_engine, make_session_factory, session_scope
from hub.seed import COMMUNITIES, seed_compound
from simulator import Fleet
from tests.support.hub import Hub
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.hil]


def test_compound_syncs_enrols_rushes_and_files_the_forced_door(hub: Hub, fleet: Fleet) -> None:
    engine = make_engine(hub.settings.database_url)
    with session_scope(make_session_factory(engine)) as db_session:
        data = seed_compound(db_session=db_session, clock=SystemClock())
    engine.dispose()
    said: list[str] = []
    compound = Compound(data, fleet, hub.api, say=said.append, rush_s=20)
    for dev in compound.add_gates():
        assert dev.config["app"] in ("face", "access", "barrier")
        hub.register(dev)
    fleet.start()
    wait_until(
        "the compound's rush stored and its alarm dispatched",
        lambda: compound.step() == "done",
        timeout=300,
        interval=1,
        detail=lambda: "\n".join(said[-8:]) + "\n" + fleet.devices[GATES[0][0]].log()[-2000:],
    )

    # every gate runs the community's current list, which names each consented resident's
    # template id (never a template)
    status = compound.list_status()
    assert status["version"] > 41  # the seeded list, then one change per enrolment
    assert {d["device_id"]: d["version"] for d in status["devices"]} == {
        g: status["version"] for g, *_ in GATES
    }
    base = f"/api/v1/access/communities/{data.community}/people"
    for pid in data.face_consented:
        person = hub.get(f"{base}/{pid}")
        consent = hub.get(f"{base}/{pid}/consents")[-1]
        assert person["face_template"] == f"f-{consent['id']}"
        assert "template" not in {k for k in person if k != "face_template"}
        cmd = hub.command(compound.enrolments[pid])
        assert cmd["status"] == "succeeded", cmd

    # one access-log row per read, in order, each the decision the list in force gives
    for device_id, (_acts, want) in compound.scripts.items():
        rows = compound.decisions(device_id)
        got = [(r["ev"], r["reason"]) for r in rows]
        assert len(got) == len(want), (device_id, got, want)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            if w is None:  # staff on their schedule: granted, or denied outside it
                assert g in (("granted", None), ("denied", "schedule")), (device_id, i, g)
            else:
                assert g == w, (device_id, i, g, w)
    by = {r["by"] for d in compound.scripts for r in compound.decisions(d)}
    assert {"face", "card", "pin", "qr", "plate"} <= by

    # the forced door: the only alarm, one case, dispatched to the community's office
    alarms = hub.get("/api/v1/access/log", community=data.community, alarms_only=True)["items"]
    assert [(a["device_id"], a["ev"]) for a in alarms] == [(GATES[1][0], "door_forced")]
    assert compound.case is not None
    case = hub.get(f"/api/cases/{compound.case['id']}")
    office = hub.demo.units[f"{COMMUNITIES[data.community]} office"]
    assert (case["source"], case["category_code"]) == ("alarm", "access_door_forced")
    assert (case["status"], case["unit_id"]) == ("dispatched", office)
    assert any("告警工单 alarm case" in line for line in said), said
