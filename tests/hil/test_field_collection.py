"""Issue 16 items 3 and 4 on real processes: a grid worker signed in on a MicroPython handheld
(`-X heapsize=192K`) collects a house, visits it and collects its residents; the signed events
reach the real hub over a real Mosquitto and become base data. The hub refuses the record it
cannot use (the field named, the event kept), and the resident's ID number reaches only an
account holding the identity grant, on a read that states its purpose; every read is audited."""

from __future__ import annotations

from typing import Any

from simulator import scenarios
from tests.support.hub import Hub
from tests.support.judge import heap_line
from tests.support.waiting import wait_until

GRID = "33010200100101"
DEV = "hh-door"
WORKER = "w00100101"
HOUSE = "330102001001-0201"
MAN = "330102198503120014"  # valid GB 11643 check digits; digit 17 odd: a man
WOMAN = "330102199007010021"
STREET_OP = "street-330102001-operator"


def test_a_worker_visits_a_household_and_collects_its_residents(hub: Hub, fleet) -> None:  # type: ignore[no-untyped-def]
    house = {"house_code": HOUSE, "address": "清波街道清河坊社区2幢201室", "use": "residential",
             "ownership": "rented"}  # fmt: skip
    residents = [
        {"id_number": MAN, "name": "张伟", "gender": "1", "ethnicity": "01",
         "phone": "13800138000", "relation": "02", "house_code": HOUSE},
        {"id_number": WOMAN, "name": "李娜", "gender": "2", "relation": "10",
         "house_code": HOUSE, "population_type": "floating"},
        # the device checks the check digit, not the gender: the hub refuses this one
        {"id_number": WOMAN, "name": "李娜", "gender": "1", "house_code": HOUSE},
        # a wrong check digit never leaves the handheld
        {"id_number": "330102199007010022", "name": "王五", "gender": "1"},
    ]  # fmt: skip
    script = scenarios.door_to_door(house, residents, worker=(WORKER, "1234"))
    dev = fleet.add_handheld(DEV, GRID, scenario=script, heapsize="192K", exit_when_done=True,
                             workers={WORKER: scenarios.pin_record("1234")})  # fmt: skip
    hub.register(dev)
    dev.start()
    assert dev.wait(120) == 0, dev.log()[-3000:]

    collects = wait_until("the four collections stored",
                          lambda: (c := hub.events(DEV, "collect")) and len(c) == 4 and c,
                          timeout=60)  # fmt: skip
    assert [e["body"]["form"] for e in collects] == ["house", "resident", "resident", "resident"]
    assert all(e["body"]["worker"] == WORKER and e["body"]["grid"] == GRID for e in collects)
    assert all(e["body"]["record"]["name"] != "王五" for e in collects[1:])  # refused on device
    # the bootstrap admin holds no grant: the stored bodies come without ID numbers
    assert all("id_number" not in e["body"]["record"] for e in collects[1:])
    (visit,) = hub.events(DEV, "visit")
    assert visit["body"]["place"] == {"kind": "household", "ref": HOUSE}
    assert visit["body"]["worker"] == WORKER and visit["body"]["loc"] is not None

    detail = hub.get(f"/api/basedata/houses/{HOUSE}")
    assert (detail["grid_code"], detail["ownership"]) == (GRID, "rented")
    people = {r["name"]: r for r in detail["residents"]}
    assert set(people) == {"张伟", "李娜"}  # the refused one made no record, no duplicate
    assert people["李娜"]["gender"] == "2" and people["李娜"]["population_type"] == "floating"
    assert all(r["id_number"] is None for r in people.values())
    assert [v["purpose"] for v in detail["visits"]] == ["collect"]
    assert detail["visits"][0]["house_code"] == HOUSE
    (refused,) = hub.get("/api/basedata/refusals")
    assert (refused["field"], refused["event_id"]) == ("gender", collects[3]["id"])

    # the street operator, given the identity grant, sees the number only with a purpose
    token = hub.demo.tokens[STREET_OP]
    tokens = hub.get("/api/tokens")
    street_id = next(t["id"] for t in tokens if t["name"] == STREET_OP)
    r = hub.api.put(f"/api/privacy/grants/{street_id}",
                    json={"identity": True, "reason": "街道人口信息核查"})  # fmt: skip
    assert r.status_code == 200, r.text
    as_street = {"Authorization": f"Bearer {token}"}

    def resident(purpose: str | None) -> dict[str, Any]:
        params = {"house_code": HOUSE, "q": "张伟", **({"purpose": purpose} if purpose else {})}
        resp = hub.api.get("/api/basedata/residents", params=params, headers=as_street)
        assert resp.status_code == 200, resp.text
        (row,) = resp.json()
        return row  # type: ignore[no-any-return]

    assert resident(None)["id_number"] is None
    shown = resident("核实入户采集信息")
    assert (shown["id_number"], shown["birth_date"], shown["collected_by"]) == (
        MAN, "1985-03-12", WORKER)  # fmt: skip
    audits = hub.get("/api/privacy/audits", actor=f"operator:{STREET_OP}")
    assert audits[0]["purpose"] == "核实入户采集信息" and "id_number" in audits[0]["fields"]
    assert audits[1]["purpose"] is None and "id_number" in audits[1]["withheld"]
    assert heap_line(dev)["total"] <= 192 * 1024
    assert hub.errors() == {}
