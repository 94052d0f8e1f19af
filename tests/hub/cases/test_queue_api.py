"""The case queue API (``GET /api/cases``) on SQLite and PostgreSQL: urgency order, the other
sorts, paging edges, each filter, literal search (Chinese, ``%``, ``_``), counts per status,
a street operator's scope, and a precise 422 for every bad parameter.

One dataset per backend (module scope), read-only: the tests only read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.cases.models import Case
from hub.clock import FrozenClock
from hub.db import make_engine, make_session_factory
from hub.migrations.runner import upgrade
from hub.seed import seed_demo
from hub.settings import Settings
from tests.hub.builders import GRID, OTHER_STREET_GRID
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the fixture

NOW = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # Monday 09:00 on the hub's calendar (UTC+8)
H = timedelta(hours=1)
STREET_A = "street-330102001-operator"
SECOND_GRID_A = "33010200100201"  # street A, second community
FILLERS = 30

# name: (status, grid, extra fields); ids follow this order (1, 2, ...)
ROWS: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "overdue",
        "dispatched",
        GRID,
        {"deadline_start_at": NOW - 20 * H, "deadline_at": NOW - 2 * H, "text": "井盖缺失 overdue"},
    ),
    (
        "near",
        "handling",
        GRID,
        {
            "deadline_start_at": NOW - 9 * H,
            "deadline_at": NOW + H,
            "category_code": "garbage",
            "text": "垃圾满溢",
        },
    ),
    (
        "later",
        "dispatched",
        SECOND_GRID_A,
        {
            "deadline_start_at": NOW - 2 * H,
            "deadline_at": NOW + 30 * H,
            "level": "street",
            "text": "完成率 100% of road_work",
        },
    ),
    (
        "filed",
        "filed",
        GRID,
        {"source": "hotline", "reported_at": NOW - 24 * H, "text": "路灯不亮 street light"},
    ),
    (
        "closed",
        "closed",
        GRID,
        {
            "deadline_start_at": NOW - 80 * H,
            "deadline_at": NOW - 50 * H,
            "reported_at": NOW - 120 * H,
        },
    ),
    ("secret", "pending_acceptance", OTHER_STREET_GRID, {"text": "other street's secret 井盖"}),
    ("voided", "voided", GRID, {"text": "duplicate 50_50"}),
    (
        "b-overdue",
        "dispatched",
        OTHER_STREET_GRID,
        {"deadline_start_at": NOW - 30 * H, "deadline_at": NOW - 5 * H},
    ),
    # 2026-01-04 16:30 UTC is 2026-01-05 00:30 on the hub's calendar
    (
        "midnight",
        "parked",
        GRID,
        {"reported_at": datetime(2026, 1, 4, 16, 30, tzinfo=UTC), "reporter_worker_id": "a0010101"},
    ),
]
ID = {name: i for i, (name, *_rest) in enumerate(ROWS, start=1)}
FIRST_FILLER = len(ROWS) + 1


def _rows(units: dict[str, int]) -> list[dict[str, Any]]:
    out = []
    for _name, status, grid, extra in ROWS:
        row = {
            "status": status,
            "grid_code": grid,
            "source": "report",
            "text": "case",
            "category_code": "road_damage",
            "level": "community",
            "unit_id": units["Qinghefang Community office"] if grid == GRID else None,
            "reporter_worker_id": "w00100101",
            "reported_at": NOW - 3 * H,
        }
        row.update(extra)
        out.append(row)
    for i in range(FILLERS):
        out.append(
            {
                "status": "closed",
                "grid_code": GRID,
                "source": "report",
                "text": f"filler {i}",
                "category_code": "road_damage",
                "level": "community",
                "unit_id": None,
                "reporter_worker_id": None,
                "reported_at": NOW - (200 + i) * H,
            }
        )
    return out


def _hub(url: str, data_dir: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    upgrade(url)
    clock = FrozenClock(NOW)
    engine = make_engine(url)
    with make_session_factory(engine)() as db_session:
        demo = seed_demo(db_session=db_session, clock=clock)
        for row in _rows(demo.units):
            db_session.add(Case(media=[], created_at=NOW, updated_at=NOW, **row))
            db_session.flush()  # ids in order
        db_session.commit()
    engine.dispose()
    settings = Settings(
        env="development", data_dir=data_dir, database_url=url, warn_before_deadline_ratio=0.75
    )
    app = create_app(settings=settings, clock=clock)
    app.state.office_unit_id = demo.units["Qinghefang Community office"]
    with TestClient(app) as client:
        yield client, demo.tokens
    app.state.engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp(f"queue-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{data_dir / 'hub.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    yield from _hub(url, data_dir)


def get(hub, query: str = "", account: str = "district-operator") -> dict[str, Any]:
    client, tokens = hub
    resp = client.get(f"/api/cases?{query}", headers={"Authorization": f"Bearer {tokens[account]}"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def ids(hub, query: str = "", account: str = "district-operator") -> list[int]:
    return [c["id"] for c in get(hub, query, account)["items"]]


ALL = len(ROWS) + FILLERS
FILLER_IDS = list(range(FIRST_FILLER + FILLERS - 1, FIRST_FILLER - 1, -1))  # newest first
URGENT = [ID["b-overdue"], ID["overdue"], ID["near"], ID["later"]]


def test_urgency_is_the_default_order(hub) -> None:
    page = get(hub, "limit=100")
    assert page["sort"] == "urgency" and page["total"] == ALL
    expected = [
        *URGENT,
        ID["midnight"],
        ID["secret"],
        ID["filed"],
        *FILLER_IDS,
        ID["voided"],
        ID["closed"],
    ]
    assert [c["id"] for c in page["items"]] == expected
    flags = {c["id"]: (c["overdue"], c["near_deadline"]) for c in page["items"]}
    assert flags[ID["overdue"]] == (True, False) and flags[ID["near"]] == (False, True)
    assert flags[ID["later"]] == (False, False) and flags[ID["closed"]] == (False, False)


def test_pages_are_stable_and_counted_right(hub) -> None:
    full = ids(hub, "limit=100")
    pages = [get(hub, f"limit=7&page={p}") for p in range(1, 7)]
    assert [p["pages"] for p in pages] == [6] * 6 and [p["page"] for p in pages] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    assert [c["id"] for p in pages for c in p["items"]] == full  # every case once, in order
    assert len(pages[-1]["items"]) == ALL - 35
    beyond = get(hub, "limit=7&page=7")
    assert beyond["items"] == [] and beyond["total"] == ALL and beyond["pages"] == 6
    assert ids(hub, "offset=3&limit=2") == full[3:5]  # offset still works
    assert get(hub, "limit=1")["pages"] == ALL
    assert get(hub, "status=evaluated")["pages"] == 1  # no case: still one (empty) page
    for sort in ("newest", "deadline", "id"):
        whole = ids(hub, f"sort={sort}&limit=100")
        assert [i for p in range(1, 5) for i in ids(hub, f"sort={sort}&limit=10&page={p}")] == whole


def test_other_sorts(hub) -> None:
    assert ids(hub, "sort=id&limit=100") == list(range(1, ALL + 1))
    # reported 3 h ago (ties: the higher number first), then 8.5 h ago, then a day ago
    newest = ids(hub, "sort=newest&limit=8")
    assert newest == [
        ID["b-overdue"],
        ID["voided"],
        ID["secret"],
        ID["later"],
        ID["near"],
        ID["overdue"],
        ID["midnight"],
        ID["filed"],
    ]
    deadline = ids(hub, "sort=deadline&limit=100")
    assert deadline[:5] == [ID["closed"], ID["b-overdue"], ID["overdue"], ID["near"], ID["later"]]


def test_each_filter(hub) -> None:
    assert set(ids(hub, "status=filed&status=parked")) == {ID["filed"], ID["midnight"]}
    assert ids(hub, "level=street") == [ID["later"]]
    office = {ID[n] for n in ("overdue", "near", "filed", "closed", "voided", "midnight")}
    client, _ = hub
    unit_id = client.app.state.office_unit_id
    assert set(ids(hub, f"unit_id={unit_id}")) == office
    assert get(hub, "unit_id=1")["total"] == 0  # the district centre has none
    assert ids(hub, f"grid={SECOND_GRID_A}") == [ID["later"]]
    assert ids(hub, "category=garbage") == [ID["near"]]
    assert ids(hub, "source=hotline") == [ID["filed"]]
    assert set(ids(hub, "overdue=true")) == {ID["overdue"], ID["b-overdue"]}
    assert ids(hub, "near_deadline=true") == [ID["near"]]
    assert ID["near"] not in ids(hub, "near_deadline=false&limit=100")
    assert get(hub, "near_deadline=false")["total"] == ALL - 1
    assert set(ids(hub, "area=330102002")) == {ID["secret"], ID["b-overdue"]}


def test_reported_days_are_the_hubs_local_days(hub) -> None:
    # "midnight" was reported 2026-01-04 16:30 UTC = 2026-01-05 00:30 in Asia/Shanghai
    day5 = set(ids(hub, "reported_from=2026-01-05&reported_to=2026-01-05&limit=100"))
    assert ID["midnight"] in day5 and ID["filed"] not in day5
    day4 = set(ids(hub, "reported_from=2026-01-04&reported_to=2026-01-04&limit=100"))
    assert day4 == {ID["filed"]}
    assert ID["closed"] in ids(hub, "reported_to=2026-01-01&limit=100")


def test_search_is_literal_and_speaks_chinese(hub) -> None:
    assert set(ids(hub, "q=井盖")) == {ID["overdue"], ID["secret"]}
    assert ids(hub, "q=井盖", STREET_A) == [ID["overdue"]]  # never the other street's
    assert ids(hub, "q=100%25") == [ID["later"]]  # "100%"
    assert ids(hub, "q=%25") == [ID["later"]]  # "%" is a character, not "anything"
    assert set(ids(hub, "q=_")) == {ID["later"], ID["voided"]}  # "_" too
    assert ids(hub, "q=50_50") == [ID["voided"]]
    assert ids(hub, "q=STREET LIGHT") == [ID["filed"]]  # Latin case ignored
    assert ids(hub, f"q=%23{ID['closed']}") == [ID["closed"]]  # "#5": the case number
    assert ids(hub, "q=Assistant Li") == [ID["midnight"]]  # the reporter's name
    assert ids(hub, "q=a0010101") == [ID["midnight"]]  # ... or id
    assert set(ids(hub, "q=Qinghefang Community grid 1&limit=100")) >= {ID["overdue"]}
    assert get(hub, "q=没有这个")["total"] == 0


def test_a_search_keeps_every_sort_order_paging_and_count(hub) -> None:
    """A search takes its own path (one scan, ordered in Python): with a term every case
    matches (each grid's name has it), every sort, page and count is that of the plain queue."""
    for extra in ("", "&status=dispatched&status=closed&status=filed", "&level=community"):
        for sort in ("urgency", "newest", "deadline", "id"):
            plain = get(hub, f"sort={sort}&limit=100{extra}")
            searched = get(hub, f"sort={sort}&limit=100&q=Community%20grid{extra}")
            assert [c["id"] for c in searched["items"]] == [c["id"] for c in plain["items"]]
            assert (searched["total"], searched["counts"]) == (plain["total"], plain["counts"])
            paged = [
                i
                for p in range(1, 5)
                for i in ids(hub, f"sort={sort}&limit=9&page={p}&q=grid{extra}")
            ]
            assert paged == [c["id"] for c in plain["items"]][:36]


def test_counts_per_status_ignore_only_the_status_filter(hub) -> None:
    page = get(hub, "status=dispatched")
    assert page["total"] == 3
    counts = page["counts"]
    assert counts["dispatched"] == 3 and counts["closed"] == FILLERS + 1
    assert counts["evaluated"] == 0 and sum(counts.values()) == ALL
    assert get(hub)["counts"] == counts  # the status filter does not change them
    street = get(hub, "", STREET_A)["counts"]
    assert street["pending_acceptance"] == 0 and street["dispatched"] == 2
    assert get(hub, "q=井盖")["counts"]["pending_acceptance"] == 1


def test_a_street_operator_sees_only_its_street(hub) -> None:
    page = get(hub, "limit=100", STREET_A)
    seen = {c["id"] for c in page["items"]}
    assert ID["secret"] not in seen and ID["b-overdue"] not in seen
    assert page["total"] == ALL - 2 and sum(page["counts"].values()) == ALL - 2
    assert all(c["grid_code"].startswith("330102001") for c in page["items"])
    assert get(hub, f"grid={OTHER_STREET_GRID}", STREET_A)["total"] == 0
    assert get(hub, "area=330102002", STREET_A)["total"] == 0
    assert get(hub, f"q=%23{ID['secret']}", STREET_A)["total"] == 0


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("status=bogus", "status"),
        ("level=province", "level"),
        ("grid=123", "grid"),
        ("area=33", "area"),
        ("category=a%20b", "category"),
        ("source=fax", "source"),
        ("reported_from=2026-13-01", "reported_from"),
        ("reported_to=1999-12-31", "reported_to"),
        ("reported_from=2026-01-05&reported_to=2026-01-04", "reported_from 2026-01-05 is after"),
        ("overdue=maybe", "overdue"),
        ("near_deadline=2", "near_deadline"),
        ("q=a%00b", "q"),
        ("q=" + "x" * 201, "q"),
        ("sort=oldest", "sort"),
        ("page=0", "page"),
        ("limit=501", "limit"),
        ("page=2&offset=10", "page or offset"),
    ],
)
def test_bad_parameters_are_a_precise_422(hub, query: str, names: str) -> None:
    client, tokens = hub
    resp = client.get(
        f"/api/cases?{query}", headers={"Authorization": f"Bearer {tokens['district-operator']}"}
    )
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["code"] == "invalid_input" and names in body["message"]
    assert "\n" not in body["message"] and "Traceback" not in body["message"]
