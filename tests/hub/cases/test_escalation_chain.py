"""The escalation chain is configuration: the default community -> street -> district -> city
over the demo, a rural township -> county -> city set through GRIDLINK_ESCALATION_CHAIN, and
the top of the chain, where a case cannot go higher and supervision lists it instead."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas import service as areas
from hub.areas.models import Area
from hub.cases import actions
from hub.cases.flows import device_events
from hub.cases.flows.supervision import run_supervision
from hub.cases.models import Case
from hub.cases.routing import create_unit, route
from hub.clock import FrozenClock
from hub.errors import InvalidInputError
from hub.notify.models import Notification
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import GRID, report_event

# A rural corner of Huzhou (3305): Deqing County, Wukang township, a village with one grid.
CITY, COUNTY, TOWNSHIP, VILLAGE = "3305", "330521", "330521100", "330521100201"
RURAL_GRID = f"{VILLAGE}01"


def auth(demo: DemoData, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[label]}"}


def _escalate(db_session: Session, case: Case, clock: FrozenClock, settings: Settings) -> None:
    actions.escalate(db_session=db_session, case=case, actor="op", at=clock.now(),
                     settings=settings, reason="cannot solve at this level")  # fmt: skip


def test_default_chain_climbs_to_the_city_and_stops_there(
    client: TestClient,
    demo: DemoData,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    assert [lv.value for lv in settings.escalation_chain] == [
        "community", "street", "district", "city"
    ]  # fmt: skip
    case = device_events.on_report(db_session=db_session, event=report_event(seq=1, at=clock.now()),
                                   clock=clock, settings=settings)  # fmt: skip
    db_session.commit()
    assert case.level == "community"
    op = auth(demo, "district-operator")
    seen = []
    for _ in range(3):
        detail = client.get(f"/api/cases/{case.id}", headers=op).json()
        up = client.post(f"/api/cases/{case.id}/escalate", headers=op, json={"reason": "up"})
        assert up.status_code == 200, up.text
        seen.append((up.json()["level"], [u["name"] for u in detail["escalate_units"]]))
    assert seen == [
        ("street", ["Qingbo Street urban management"]),
        ("district", ["District command centre", "District roads bureau"]),
        ("city", ["City command centre"]),
    ]
    at_city = client.get(f"/api/cases/{case.id}", headers=op).json()
    assert at_city["unit_id"] == demo.units["City command centre"]
    assert at_city["escalate_units"] == []  # nothing above the city
    refused = client.post(f"/api/cases/{case.id}/escalate", headers=op, json={"reason": "up"})
    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == "top_of_chain"
    assert "city level, the top of the escalation chain" in body["message"]
    db_session.expire_all()
    trail = [t.evidence.get("from_level") for t in case.transitions if t.action == "escalate"]
    assert trail == ["community", "street", "district"]


def test_a_district_without_a_city_area_is_the_top(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> None:
    from tests.builders.devices import ensure_grid

    ensure_grid(db_session, "44030500100101")  # a district with no city area above it
    create_unit(db_session=db_session, name="Centre", area_code="440305", categories=[None])
    create_unit(db_session=db_session, name="Street", area_code="440305001", categories=[None])
    create_unit(db_session=db_session, name="Office", area_code="440305001001", categories=[None])
    case = device_events.on_report(
        db_session=db_session, event=report_event(seq=1, at=clock.now(), grid="44030500100101"),
        clock=clock, settings=settings,
    )  # fmt: skip
    for _ in range(2):
        _escalate(db_session, case, clock, settings)
    assert case.level == "district"
    with pytest.raises(InvalidInputError, match="district level, the top for its area"):
        _escalate(db_session, case, clock, settings)


@pytest.fixture
def rural(
    db_session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> tuple[Settings, dict[str, int]]:
    """The rural tree created through the areas service, a catch-all unit at each level, and
    the hub's settings with ``GRIDLINK_ESCALATION_CHAIN=township,county,city``."""
    monkeypatch.setenv("GRIDLINK_ESCALATION_CHAIN", "township, county, city")
    rural = Settings(env="development", data_dir=settings.data_dir,
                     database_url=settings.database_url)  # fmt: skip
    areas.create_area(db_session=db_session, code=COUNTY, name="德清县", level="county")
    areas.create_area(db_session=db_session, code=CITY, name="湖州市")  # adopts the county
    areas.create_area(db_session=db_session, code=TOWNSHIP, name="武康镇", level="township")
    areas.create_area(db_session=db_session, code=VILLAGE, name="五四村", level="community")
    areas.create_grid(db_session=db_session, code=RURAL_GRID, name="五四村 1",
                      lat_e6=30_540_000, lon_e6=119_960_000)  # fmt: skip
    units = {}
    for name, code in (("市指挥中心", CITY), ("县指挥中心", COUNTY), ("镇综治中心", TOWNSHIP)):
        units[name] = create_unit(db_session=db_session, name=name, area_code=code,
                                  kind="territorial", categories=[None]).id  # fmt: skip
    db_session.commit()
    return rural, units


def test_a_rural_chain_from_settings_routes_and_escalates_township_county_city(
    db_session: Session, clock: FrozenClock, demo: DemoData, rural: tuple[Settings, dict[str, int]]
) -> None:
    settings, units = rural
    assert [lv.value for lv in settings.escalation_chain] == ["township", "county", "city"]
    county = db_session.get(Area, COUNTY)
    assert county is not None and county.level == "county" and county.parent_code == CITY
    for level, unit in (
        ("township", "镇综治中心"),
        ("county", "县指挥中心"),
        ("city", "市指挥中心"),
    ):
        found = route(db_session=db_session, category_code="road_damage", grid_code=RURAL_GRID,
                      level=level)  # fmt: skip
        assert found is not None and found.id == units[unit], level
    case = device_events.on_report(
        db_session=db_session, event=report_event(seq=1, at=clock.now(), grid=RURAL_GRID),
        clock=clock, settings=settings,
    )  # fmt: skip
    assert (case.level, case.unit_id) == ("township", units["镇综治中心"])  # the chain's first
    _escalate(db_session, case, clock, settings)
    assert (case.level, case.unit_id) == ("county", units["县指挥中心"])
    notice = db_session.scalars(
        select(Notification).where(
            Notification.case_id == case.id, Notification.kind == "escalation"
        )
    ).one()
    assert "层级：县" in notice.body and "county level" in notice.body  # 中文 first
    _escalate(db_session, case, clock, settings)
    assert (case.level, case.unit_id) == ("city", units["市指挥中心"])
    with pytest.raises(InvalidInputError, match="city level, the top of the escalation chain"):
        _escalate(db_session, case, clock, settings)


def test_rural_supervision_escalates_overdue_cases_up_to_the_city_then_lists_them(
    db_session: Session, clock: FrozenClock, demo: DemoData, rural: tuple[Settings, dict[str, int]]
) -> None:
    settings, units = rural
    case = device_events.on_report(
        db_session=db_session, event=report_event(seq=1, at=clock.now(), grid=RURAL_GRID),
        clock=clock, settings=settings,
    )  # fmt: skip
    db_session.commit()
    levels = []
    for _ in range(4):
        clock.advance(days=30)  # far past any deadline
        report = run_supervision(db_session=db_session, clock=clock, settings=settings)
        levels.append((case.level, report.escalated == [case.id], report.supervised == [case.id]))
    assert levels == [
        ("county", True, False),
        ("city", True, False),
        ("city", False, True),  # the top: listed supervision instead
        ("city", False, False),  # once
    ]
    assert case.unit_id == units["市指挥中心"] and case.supervision_level == "listed"


def test_a_city_operator_sees_every_district_of_its_city_and_a_district_only_its_own(
    client: TestClient,
    demo: DemoData,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    from tests.builders.devices import ensure_grid

    areas.create_area(db_session=db_session, code="330105", name="Gongshu District")
    ensure_grid(db_session, "33010500100101")  # the city's second district
    ensure_grid(db_session, "33050000100101")  # Huzhou: another city
    cases = {}
    for seq, grid in enumerate((GRID, "33010500100101", "33050000100101"), start=1):
        cases[grid] = device_events.on_report(
            db_session=db_session, event=report_event(seq=seq, at=clock.now(), grid=grid),
            clock=clock, settings=settings,
        ).id  # fmt: skip
    db_session.commit()

    def visible(label: str) -> set[int]:
        page = client.get("/api/cases", headers=auth(demo, label)).json()
        return {c["id"] for c in page["items"]}

    assert visible("city-operator") == {cases[GRID], cases["33010500100101"]}
    assert visible("district-operator") == {cases[GRID]}
    city = auth(demo, "city-operator")
    assert client.get(f"/api/cases/{cases['33010500100101']}", headers=city).status_code == 200
    district = auth(demo, "district-operator")
    assert client.get(f"/api/cases/{cases['33010500100101']}", headers=district).status_code == 404
    # the city's board has one row per district; its area figures list them as children
    board = client.get("/api/stats/board", headers=city).json()
    assert [c["code"] for c in board["figures"]["children"]] == ["330102", "330105"]
