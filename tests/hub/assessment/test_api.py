"""The assessment API over HTTP: weekly rows, the monthly ranking, scores, star ratings and
online inspection, each inside the caller's area, with the refusals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from hub.assessment import weekly
from hub.assessment.periods import parse, week
from hub.assessment.schemas import WorkerFigures
from hub.assessment.scoring import score
from hub.clock import FrozenClock
from hub.ingest.processor import Processor
from hub.media.store import FileBlobStore
from hub.seed import DemoData
from hub.settings import Settings
from hub.stats.service import _online_seconds
from tests.builders.devices import TestDevice
from tests.hub.assessment.history import OTHER, WORKER, week_of_work
from tests.hub.builders import GRID

STREET, OTHER_STREET, DISTRICT = "330102001", "330102002", "330102"


def _auth(demo: DemoData, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[label]}"}


@pytest.fixture
def played(
    db_session: Session,
    processor: Processor,
    clock: FrozenClock,
    settings: Settings,
    store: FileBlobStore,
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
) -> dict[str, int]:
    cases, _hh = week_of_work(db_session, processor, clock, settings, store, device_factory)
    return cases


def test_weekly_rows_over_http(
    client: TestClient,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    played: dict[str, int],
) -> None:
    street = _auth(demo, f"street-{STREET}-operator")
    assert client.get("/api/assessment/weeks/2026-W02", headers=street).status_code == 404
    clock.set(week("2026-W02", settings).end + timedelta(hours=settings.weekly_stats_delay_hours))
    assert weekly.run_weekly_stats(db_session=db_session, clock=clock, settings=settings)
    db_session.commit()

    got = client.get("/api/assessment/weeks/2026-W02", headers=street)
    assert got.status_code == 200, got.text
    rows = {r["worker_id"]: r for r in got.json()["workers"]}
    assert OTHER not in rows and WORKER in rows
    mine = rows[WORKER]
    assert (mine["reports"], mine["valid_reports"], mine["visits"], mine["collections"]) == (
        5,
        3,
        2,
        1,
    )
    assert (mine["verifications"], mine["verifications_on_time"]) == (2, 1)
    other = client.get(
        "/api/assessment/weeks/2026-W02", headers=_auth(demo, f"street-{OTHER_STREET}-operator")
    ).json()
    theirs = {r["worker_id"]: r for r in other["workers"]}
    assert WORKER not in theirs and theirs[OTHER]["visits"] == 1
    assert all(r["worker_id"].startswith("w002") for r in other["workers"])

    assert client.get("/api/assessment/weeks/2026-W03", headers=street).status_code == 404
    bad = client.get("/api/assessment/weeks/2026-W54", headers=street)
    assert bad.status_code == 422 and "week" in bad.text
    unit = _auth(demo, "unit-330102001001-office")
    assert client.get("/api/assessment/weeks/2026-W02", headers=unit).status_code == 403
    assert client.get("/api/assessment/weeks/2026-W02").status_code == 401

    district_admin = _auth(demo, "district-admin")
    assert client.post("/api/assessment/weeks/2026-W02/compute", headers=street).status_code == 403
    # recomputing rewrites every area's rows: an admin of the whole hub only
    scoped = client.post("/api/assessment/weeks/2026-W02/compute", headers=district_admin)
    assert scoped.status_code == 403
    admin = {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}
    again = client.post("/api/assessment/weeks/2026-W02/compute", headers=admin)
    assert again.status_code == 200 and again.json()["computed_by"].startswith("admin:")
    assert {r["worker_id"]: r for r in again.json()["workers"]}[WORKER] == mine
    running = client.post("/api/assessment/weeks/2026-W03/compute", headers=admin)
    assert running.status_code == 409 and "not ended" in running.json()["message"]


def test_ranking_and_scores_over_http(
    client: TestClient,
    db_session: Session,
    settings: Settings,
    demo: DemoData,
    played: dict[str, int],
) -> None:
    district = _auth(demo, "district-operator")
    got = client.get("/api/assessment/ranking?month=2026-01", headers=district)
    assert got.status_code == 200, got.text
    body = got.json()
    assert [s["code"] for s in body["streets"]] == [STREET, OTHER_STREET]
    assert [d["code"] for d in body["districts"]] == [DISTRICT]
    top = body["districts"][0]["workers"][0]
    assert (top["rank"], top["worker_id"], top["reports"], top["valid_reports"]) == (
        1,
        WORKER,
        5,
        3,
    )
    assert (top["visits"], top["collections"], top["verifications_on_time"]) == (2, 1, 1)
    month = parse("2026-01", settings)
    online = _online_seconds(db_session, month.start, month.end, None).get(WORKER, 0)
    # results: mean of 3/20, 2/40, 1/30 and 1 of 2 verifications on time; satisfaction 4 of 5
    results = 100 * (3 / 20 + 2 / 40 + 1 / 30 + 1 / 2) / 4
    conduct = 100 * min(1.0, online / 3600 / 160)
    expected = round(0.5 * results + 0.3 * conduct + 0.2 * 75.0, 2)
    assert top["score"] == expected
    ranks = [w["rank"] for w in body["districts"][0]["workers"]]
    assert ranks == list(range(1, len(demo.workers) + 1))
    street_ranking = body["streets"][0]["workers"]
    assert OTHER not in {w["worker_id"] for w in street_ranking}

    street = client.get(
        "/api/assessment/ranking?month=2026-01", headers=_auth(demo, f"street-{STREET}-operator")
    ).json()
    assert [s["code"] for s in street["streets"]] == [STREET] and street["districts"] == []
    for bad in ("2026-13", "2026-Q1", "january"):
        assert (
            client.get(f"/api/assessment/ranking?month={bad}", headers=district).status_code == 422
        )

    scored = client.get("/api/assessment/workers?period=2026-01", headers=district).json()
    mine = next(r for r in scored if r["figures"]["worker_id"] == WORKER)
    assert mine["score"]["score"] == expected and mine["score"]["satisfaction"] == 75.0
    assert mine["score"]["results"] == round(results, 2)
    current = client.get("/api/assessment/workers", headers=district).json()  # the clock's month
    assert current == scored
    quarter = client.get("/api/assessment/workers?period=2026-Q1", headers=district).json()
    q_mine = next(r for r in quarter if r["figures"]["worker_id"] == WORKER)
    assert q_mine["figures"] == mine["figures"]  # the same work, three times the targets
    assert q_mine["score"]["results"] == round(100 * (3 / 60 + 2 / 120 + 1 / 90 + 1 / 2) / 4, 2)
    year = client.get("/api/assessment/workers?period=2026", headers=district)
    assert year.status_code == 200 and len(year.json()) == len(demo.workers)
    custom = client.get(
        "/api/assessment/workers?since=2026-01-05T00:00:00Z&until=2026-01-05T01:05:00Z",
        headers=district,
    ).json()
    assert next(r for r in custom if r["figures"]["worker_id"] == WORKER)["figures"]["reports"] == 3
    for query in (
        "period=2026-01&since=2026-01-01T00:00:00Z",
        "since=2026-01-01T00:00:00Z",
        "period=2026-W02",
        "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
    ):
        refused = client.get(f"/api/assessment/workers?{query}", headers=district)
        assert refused.status_code == 422, query
    unit = _auth(demo, "unit-330102001001-office")
    assert client.get("/api/assessment/workers?period=2026-01", headers=unit).status_code == 403


def test_star_ratings_over_http(
    client: TestClient, settings: Settings, demo: DemoData, played: dict[str, int]
) -> None:
    district = _auth(demo, "district-operator")
    got = client.get("/api/assessment/stars?period=2026-01", headers=district)
    assert got.status_code == 200, got.text
    body = got.json()
    grids = {g["code"]: g for g in body["grids"]}
    assert set(grids) == set(demo.grids)
    mine = grids[GRID]
    # one case closed (on time), rated 4: on time 1.0, satisfaction 0.75, and its workers'
    scores = {
        r["figures"]["worker_id"]: r["score"]["score"]
        for r in client.get("/api/assessment/workers?period=2026-01", headers=district).json()
    }
    workers = round((scores[WORKER] + scores["a0010101"]) / 2, 2)  # the grid's two workers
    # four cases (the duplicate is none)
    assert (mine["cases"], mine["on_time_rate"], mine["satisfaction"]) == (4, 1.0, 4.0)
    assert mine["worker_score"] == workers
    assert mine["score"] == round(100 * (1.0 + 0.75 + workers / 100) / 3, 2)
    assert mine["stars"] == 1 + sum(mine["score"] >= t for t in settings.star_thresholds)
    centres = {c["code"]: c for c in body["centres"]}
    assert set(centres) == {DISTRICT, STREET, OTHER_STREET}
    assert centres[STREET]["cases"] == 4 and centres[OTHER_STREET]["cases"] == 0
    assert centres[OTHER_STREET]["on_time_rate"] is None
    street = client.get(
        "/api/assessment/stars?period=2026-01", headers=_auth(demo, f"street-{STREET}-operator")
    ).json()
    assert {c["code"] for c in street["centres"]} == {STREET}
    assert all(g["code"].startswith(STREET) for g in street["grids"])
    assert client.get("/api/assessment/stars?period=2026-1", headers=district).status_code == 422


def test_online_inspection_over_http(
    client: TestClient, demo: DemoData, settings: Settings, played: dict[str, int]
) -> None:
    a = played["A"]
    street = _auth(demo, f"street-{STREET}-operator")
    district = _auth(demo, "district-operator")
    ok = client.post(
        "/api/assessment/inspections", headers=street, json={"case_id": a, "verdict": "qualified"}
    )
    assert ok.status_code == 201, ok.text
    assert (ok.json()["reviewer_level"], ok.json()["worker_id"]) == ("street", WORKER)
    twice = client.post(
        "/api/assessment/inspections",
        headers=street,
        json={"case_id": a, "verdict": "unqualified", "reason": "x"},
    )
    assert twice.status_code == 409
    assert twice.json()["details"]["inspection_id"] == ok.json()["id"]
    no_reason = client.post(
        "/api/assessment/inspections",
        headers=district,
        json={"case_id": a, "verdict": "unqualified", "reason": "  "},
    )
    assert no_reason.status_code == 422 and no_reason.json()["details"]["field"] == "reason"
    bad = client.post(
        "/api/assessment/inspections", headers=district, json={"case_id": a, "verdict": "fine"}
    )
    assert bad.status_code == 422 and "verdict" in bad.text
    unq = client.post(
        "/api/assessment/inspections",
        headers=district,
        json={"case_id": a, "verdict": "unqualified", "reason": "photo does not show the damage"},
    )
    assert unq.status_code == 201 and unq.json()["reviewer_level"] == "district"

    outside = client.post(
        "/api/assessment/inspections",
        headers=_auth(demo, f"street-{OTHER_STREET}-operator"),
        json={"case_id": a, "verdict": "qualified"},
    )
    assert outside.status_code == 404
    for label in ("community-330102001001-operator", "city-operator", "unit-330102001001-office"):
        refused = client.post(
            "/api/assessment/inspections",
            headers=_auth(demo, label),
            json={"case_id": a, "verdict": "qualified"},
        )
        assert refused.status_code == 403, label
    missing = client.post(
        "/api/assessment/inspections",
        headers=street,
        json={"case_id": 99_999, "verdict": "qualified"},
    )
    assert missing.status_code == 404

    listed = client.get(f"/api/assessment/inspections?worker_id={WORKER}", headers=district)
    assert [i["verdict"] for i in listed.json()] == ["unqualified", "qualified"]
    elsewhere = client.get(
        "/api/assessment/inspections", headers=_auth(demo, f"street-{OTHER_STREET}-operator")
    )
    assert elsewhere.json() == []
    queue = client.get("/api/assessment/inspections/queue?period=2026-01", headers=street).json()
    assert [r["case_id"] for r in queue] == [played[k] for k in "BCDE"]
    community = _auth(demo, "community-330102001001-operator")
    assert (
        client.get(
            "/api/assessment/inspections/queue?period=2026-01", headers=community
        ).status_code
        == 403
    )

    # the verdicts count: one qualified, one unqualified (10 points of conduct)
    scored = client.get("/api/assessment/workers?period=2026-01", headers=district).json()
    mine = next(r for r in scored if r["figures"]["worker_id"] == WORKER)
    assert (mine["figures"]["qualified"], mine["figures"]["unqualified"]) == (1, 1)
    figures = WorkerFigures(**mine["figures"])
    figures.unqualified = 0
    before = score(figures, parse("2026-01", settings), settings)
    assert mine["score"]["conduct"] == max(0.0, round(before.conduct - 10, 2))
