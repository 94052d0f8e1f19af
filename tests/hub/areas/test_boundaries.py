"""Grid boundaries: GeoJSON in the API, versions changed only by approval (four eyes), overlaps
refused, and the point lookups: routing an intake item to the grid that holds it, and the
on-site evidence gate (a photo just outside the boundary refused, just inside accepted)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.areas import boundaries
from hub.areas.models import Grid, GridBoundary
from hub.auth.models import Role
from hub.auth.service import create_token
from hub.cases import actions
from hub.cases.evidence import check_evidence
from hub.cases.flows import device_events, unit_feedback
from hub.cases.models import Case, CaseStatus, CaseTransition
from hub.clock import FrozenClock
from hub.errors import ConflictError, EvidenceError, InvalidInputError
from hub.media.store import FileBlobStore
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import GRID, PHOTO, add_handheld, report_event, store_blob, verify_event

NEIGHBOUR = "33010200100102"  # the next grid of the same community
OTHER_STREET = "33010200200101"
ADMIN = "district-admin"
# Grid 1: lon 120.170000-120.172000, lat 30.250000-30.252000 (about 190 m x 220 m); its
# neighbour shares the east edge.
WEST, EAST, FAR_EAST = 120.170, 120.172, 120.174
SOUTH, NORTH = 30.250, 30.252


def square(w: float, s: float, e: float, n: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def second_admin(session_factory: sessionmaker[Session], clock: FrozenClock) -> str:
    with session_factory() as db_session:
        _row, plaintext = create_token(
            db_session=db_session,
            name="district-admin-2",
            role=Role.admin,
            scope_code="330102",
            clock=clock,
        )
        db_session.commit()
    return plaintext


def put_in_force(
    client: TestClient, demo: DemoData, second: str, code: str, geometry: dict[str, Any]
) -> dict[str, Any]:
    filed = client.put(
        f"/api/grids/{code}/boundary",
        headers=auth(demo.tokens[ADMIN]),
        json={"geometry": geometry, "reason": "survey"},
    )
    assert filed.status_code == 202, filed.text
    version = filed.json()["properties"]["version"]
    done = client.post(
        f"/api/grids/{code}/boundaries/{version}/approve",
        headers=auth(second),
        json={"note": "checked on the map"},
    )
    assert done.status_code == 200, done.text
    return done.json()


def test_a_boundary_is_in_force_only_once_another_admin_approves_it(
    client: TestClient, demo: DemoData, second_admin: str
) -> None:
    admin = auth(demo.tokens[ADMIN])
    assert client.get(f"/api/grids/{GRID}/boundary", headers=admin).status_code == 404
    filed = client.put(
        f"/api/grids/{GRID}/boundary",
        headers=admin,
        json={"geometry": square(WEST, SOUTH, EAST, NORTH), "reason": "survey"},
    )
    assert filed.status_code == 202, filed.text
    props = filed.json()["properties"]
    assert props["status"] == "proposed" and props["version"] == 1
    assert 35_000 < props["area_m2"] < 50_000  # about 192 m x 221 m
    assert client.get(f"/api/grids/{GRID}/boundary", headers=admin).status_code == 404
    # One proposal at a time; the proposer cannot approve it; an operator cannot either.
    again = client.put(
        f"/api/grids/{GRID}/boundary",
        headers=admin,
        json={"geometry": square(WEST, SOUTH, EAST, NORTH + 0.001)},
    )
    assert again.status_code == 409 and again.json()["code"] == "boundary_pending"
    own = client.post(f"/api/grids/{GRID}/boundaries/1/approve", headers=admin, json={})
    assert own.status_code == 403 and own.json()["code"] == "four_eyes"
    operator = auth(demo.tokens["district-operator"])
    assert (
        client.post(
            f"/api/grids/{GRID}/boundaries/1/approve", headers=operator, json={}
        ).status_code
        == 403
    )
    approved = client.post(
        f"/api/grids/{GRID}/boundaries/1/approve", headers=auth(second_admin), json={"note": "ok"}
    )
    assert approved.status_code == 200 and approved.json()["properties"]["status"] == "approved"
    feature = client.get(f"/api/grids/{GRID}/boundary", headers=admin).json()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Polygon"
    assert feature["properties"]["decided_by"] != feature["properties"]["proposed_by"]
    assert client.get(f"/api/grids/{GRID}", headers=admin).json()["boundary_version"] == 1

    # A change is a new version; the one in force stays until it is approved, then superseded.
    bigger = square(WEST, SOUTH, EAST, NORTH + 0.0005)
    v2 = client.put(f"/api/grids/{GRID}/boundary", headers=admin, json={"geometry": bigger})
    assert v2.json()["properties"]["version"] == 2
    assert (
        client.get(f"/api/grids/{GRID}/boundary", headers=admin).json()["properties"]["version"]
        == 1
    )
    pending = client.get("/api/boundaries?status=proposed", headers=admin).json()
    assert [f["properties"]["code"] for f in pending["features"]] == [GRID]
    rejected = client.post(
        f"/api/grids/{GRID}/boundaries/2/reject",
        headers=auth(second_admin),
        json={"note": "cuts the school in half"},
    )
    assert rejected.json()["properties"]["status"] == "rejected"
    assert (
        client.post(
            f"/api/grids/{GRID}/boundaries/2/approve", headers=auth(second_admin), json={}
        ).status_code
        == 409
    )
    history = client.get(f"/api/grids/{GRID}/boundaries", headers=admin).json()["features"]
    assert [(f["properties"]["version"], f["properties"]["status"]) for f in history] == [
        (2, "rejected"),
        (1, "approved"),
    ]
    put_in_force(client, demo, second_admin, GRID, bigger)
    history = client.get(f"/api/grids/{GRID}/boundaries", headers=admin).json()["features"]
    assert [f["properties"]["status"] for f in history] == ["approved", "rejected", "superseded"]


def test_bad_polygons_and_overlaps_get_one_clear_line(
    client: TestClient, demo: DemoData, second_admin: str
) -> None:
    admin = auth(demo.tokens[ADMIN])
    bow_tie = {
        "type": "Polygon",
        "coordinates": [
            [[WEST, SOUTH], [EAST, NORTH], [EAST, SOUTH], [WEST, NORTH], [WEST, SOUTH]]
        ],
    }
    cases = [
        ({"type": "Point", "coordinates": [WEST, SOUTH]}, "Polygon or MultiPolygon"),
        (bow_tie, "not a valid polygon: Self-intersection"),
        (
            {"type": "Polygon", "coordinates": [[[WEST, SOUTH], [EAST, SOUTH], [EAST, NORTH]]]},
            "at least 4 positions",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[SOUTH, WEST], [SOUTH, EAST], [NORTH, EAST], [SOUTH, WEST]]],
            },
            "out of range: GeoJSON is [longitude, latitude]",
        ),
        (
            {"type": "Polygon", "coordinates": [[[200, 10], [201, 10], [201, 11], [200, 10]]]},
            "out of range",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[WEST, SOUTH], [EAST, SOUTH], [EAST, NORTH], [WEST, NORTH]]],
            },
            "closed",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[WEST, SOUTH], ["x", SOUTH], [EAST, NORTH], [WEST, SOUTH]]],
            },
            "[longitude, latitude]",
        ),
    ]
    for geometry, words in cases:
        resp = client.put(f"/api/grids/{GRID}/boundary", headers=admin, json={"geometry": geometry})
        assert resp.status_code == 422, (geometry, resp.text)
        assert words in resp.json()["message"], resp.json()
    put_in_force(client, demo, second_admin, GRID, square(WEST, SOUTH, EAST, NORTH))
    # The neighbour may share the edge, not cross it.
    crossing = client.put(
        f"/api/grids/{NEIGHBOUR}/boundary",
        headers=admin,
        json={"geometry": square(EAST - 0.0005, SOUTH, FAR_EAST, NORTH)},
    )
    assert crossing.status_code == 409 and crossing.json()["code"] == "boundary_overlap"
    assert GRID in crossing.json()["message"] and "m²" in crossing.json()["message"]
    put_in_force(client, demo, second_admin, NEIGHBOUR, square(EAST, SOUTH, FAR_EAST, NORTH))
    # Another street's admin-scoped reads and writes stop at its area.
    street = auth(demo.tokens["street-330102002-operator"])
    assert client.get(f"/api/grids/{GRID}/boundary", headers=street).status_code == 404
    assert (
        client.put(
            f"/api/grids/{GRID}/boundary",
            headers=street,
            json={"geometry": square(WEST, SOUTH, EAST, NORTH)},
        ).status_code
        == 403
    )
    mine = client.get("/api/boundaries", headers=street).json()
    assert mine["features"] == []
    both = client.get("/api/boundaries", headers=admin).json()
    assert [f["properties"]["code"] for f in both["features"]] == [GRID, NEIGHBOUR]


def test_an_intake_item_goes_to_the_grid_whose_boundary_holds_it(
    client: TestClient, demo: DemoData, second_admin: str
) -> None:
    put_in_force(client, demo, second_admin, GRID, square(WEST, SOUTH, EAST, NORTH))
    put_in_force(client, demo, second_admin, NEIGHBOUR, square(EAST, SOUTH, FAR_EAST, NORTH))
    op = auth(demo.tokens["street-330102001-operator"])
    east_side = {"lat_e6": 30_251_000, "lon_e6": 120_173_000, "acc_m": 5}
    # The caller named grid 1, but the place is in the neighbour's boundary: 属地.
    created = client.post(
        "/api/cases",
        headers=op,
        json={"text": "blocked drain", "grid_code": GRID, "loc": east_side},
    )
    assert created.status_code == 201, created.text
    assert created.json()["grid_code"] == NEIGHBOUR
    # No grid named: the location decides; a location no boundary holds is one clear 422.
    located = client.post(
        "/api/cases",
        headers=op,
        json={"text": "fallen tree", "loc": {"lat_e6": 30_250_500, "lon_e6": 120_171_000}},
    )
    assert located.status_code == 201 and located.json()["grid_code"] == GRID
    nowhere = client.post(
        "/api/cases",
        headers=op,
        json={"text": "somewhere", "loc": {"lat_e6": 30_300_000, "lon_e6": 120_300_000}},
    )
    assert nowhere.status_code == 422 and "no grid holds 30.3, 120.3" in nowhere.json()["message"]
    # Hotline orders are placed the same way, each on its own.
    orders = client.post(
        "/api/hotline/orders",
        headers=op,
        json={
            "orders": [
                {
                    "ticket_id": "T-1",
                    "text": "noise",
                    "received_at": "2026-03-02T08:00:00+08:00",
                    "loc": east_side,
                    "callback_required": False,
                },
                {
                    "ticket_id": "T-2",
                    "text": "noise",
                    "received_at": "2026-03-02T08:00:00+08:00",
                    "loc": {"lat_e6": 30_300_000, "lon_e6": 120_300_000},
                },
            ]
        },
    )
    assert orders.status_code == 200, orders.text
    first, second = orders.json()["items"]
    assert first["status"] == "created" and second["status"] == "rejected"
    case = client.get(f"/api/cases/{first['case_id']}", headers=op).json()
    assert case["grid_code"] == NEIGHBOUR


def test_the_evidence_gate_uses_the_grid_boundary(
    session_factory: sessionmaker[Session],
    demo: DemoData,
    clock: FrozenClock,
    settings: Settings,
    store: FileBlobStore,
) -> None:
    """A photo 5 m outside the east edge is refused (it is 15 m from the case, well within the
    distance limit: only the boundary refuses it); one 5 m inside is accepted."""
    with session_factory() as db_session:
        grid = db_session.get(Grid, GRID)
        assert grid is not None
        boundaries.imported(
            db_session=db_session,
            grid=grid,
            geom=boundaries.parse_geometry(square(WEST, SOUTH, EAST, NORTH)),
            actor="import",
            at=clock.now(),
        )
        store_blob(db_session, store, at=clock.now())
        add_handheld(db_session, at=clock.now())
        event = report_event(seq=1, at=clock.now(), lat_e6=30_251_000, lon_e6=120_171_900)
        case = device_events.on_report(
            db_session=db_session, event=event, clock=clock, settings=settings
        )
        actions.accept(db_session=db_session, case=case, actor="unit", at=clock.now())
        unit_feedback.submit_feedback(
            db_session=db_session,
            case=case,
            actor="unit",
            text="cleared",
            clock=clock,
            settings=settings,
        )
        db_session.commit()
        task, case_id = case.verify_task_id, case.id
        assert task is not None
    outside, inside = 120_172_052, 120_171_948  # ~5 m either side of lon 120.172 at 30.25 N
    with session_factory() as db_session:
        case = db_session.get(Case, case_id)
        assert case is not None

        def photo_at(seq: int, lon_e6: int, action: str) -> CaseTransition:
            clock.advance(minutes=10)
            event = verify_event(seq=seq, at=clock.now(), case_id=case_id, task_id=task,
                                 lat_e6=30_251_000, lon_e6=lon_e6)  # fmt: skip
            device_events.on_verify(db_session=db_session, settings=settings, clock=clock,
                                    event=event)  # fmt: skip
            db_session.commit()
            rows = select(CaseTransition).where(
                CaseTransition.case_id == case_id, CaseTransition.action == action
            )
            return db_session.scalars(rows).one()

        refused = photo_at(2, outside, "verify_refused")
        assert case.status == CaseStatus.verifying
        assert "outside grid 33010200100101's boundary" in (refused.reason or "")
        closing = photo_at(3, inside, "close")
        assert case.status == CaseStatus.closed
        assert closing.evidence["boundary_version"] == 1
        assert closing.evidence["outside_boundary_m"] == 0.0
        assert 0 < closing.evidence["distance_m"] < 100


def test_a_margin_setting_admits_gps_error_at_the_edge(
    db_session: Session, demo: DemoData, clock: FrozenClock, settings: Settings
) -> None:
    grid = db_session.get(Grid, GRID)
    assert grid is not None
    boundaries.imported(
        db_session=db_session,
        grid=grid,
        geom=boundaries.parse_geometry(square(WEST, SOUTH, EAST, NORTH)),
        actor="import",
        at=clock.now(),
    )
    row = boundaries.current(db_session=db_session, grid_code=GRID)
    assert row is not None
    where = boundaries.place(row, 30_251_000, 120_172_052)
    assert not where.inside and 4.0 < where.outside_m < 6.0
    assert boundaries.place(row, 30_251_000, 120_172_000).inside  # on the edge
    assert boundaries.grid_at(db_session=db_session, lat_e6=30_251_000, lon_e6=120_171_000) == GRID
    assert boundaries.grid_at(db_session=db_session, lat_e6=30_251_000, lon_e6=120_173_000) is None
    with pytest.raises(InvalidInputError):
        boundaries.parse_geometry({"type": "Polygon", "coordinates": []})
    case = Case(lat_e6=None, lon_e6=None, verify_requested_at=None)  # a hotline case: no point
    just_out = {"lat_e6": 30_251_000, "lon_e6": 120_172_052}
    gate = {"case": case, "taken_at": clock.now(), "blobs": [PHOTO], "boundary": row}
    assert settings.verify_boundary_margin_m == 0.0
    with pytest.raises(EvidenceError, match="5 m outside grid"):
        check_evidence(settings=settings, loc=just_out, **gate)
    with pytest.raises(EvidenceError, match="needs the verifier's location"):
        check_evidence(settings=settings, loc=None, **gate)
    lenient = settings.model_copy(update={"verify_boundary_margin_m": 10.0})
    facts = check_evidence(settings=lenient, loc=just_out, **gate)
    assert 4.0 < facts["outside_boundary_m"] < 6.0


def test_hostile_bodies_are_one_clear_error(client: TestClient, demo: DemoData) -> None:
    admin = auth(demo.tokens[ADMIN])
    huge = {"type": "Polygon", "coordinates": [[[10**400, 1], [2, 1], [2, 2], [10**400, 1]]]}
    resp = client.put(f"/api/grids/{GRID}/boundary", headers=admin, json={"geometry": huge})
    assert resp.status_code == 422 and "[longitude, latitude]" in resp.json()["message"]
    ring = [[WEST + i * 1e-7, SOUTH] for i in range(60_000)]
    big = client.put(f"/api/grids/{GRID}/boundary", headers=admin,
                     json={"geometry": {"type": "Polygon", "coordinates": [ring]}})  # fmt: skip
    assert big.status_code == 413 and "at most 1048576 bytes" in big.json()["message"]
    many = [[WEST + i * 1e-7, SOUTH + (i % 2) * 1e-7] for i in range(6000)]
    many.append(many[0])
    resp = client.put(f"/api/grids/{GRID}/boundary", headers=admin,
                      json={"geometry": {"type": "Polygon", "coordinates": [many]}})  # fmt: skip
    assert resp.status_code == 422 and "at most 5000 vertices" in resp.json()["message"]


def test_a_decision_made_meanwhile_is_seen_and_one_version_stays_in_force(
    session_factory: sessionmaker[Session], demo: DemoData, clock: FrozenClock
) -> None:
    """Admin X approves while admin Y, who loaded the same proposal before, rejects it: Y's
    decision is refused (the proposal is read again under the lock), the approval stands."""
    with session_factory() as setup:
        grid = setup.get(Grid, GRID)
        assert grid is not None
        boundaries.propose(
            db_session=setup,
            grid=grid,
            geometry=square(WEST, SOUTH, EAST, NORTH),
            actor="admin:a",
            at=clock.now(),
            reason=None,
        )
        setup.commit()
    x, y = session_factory(), session_factory()
    try:
        rows = []
        for s in (x, y):
            g = s.get(Grid, GRID)
            assert g is not None
            rows.append((g, boundaries.get_version(db_session=s, grid_code=GRID, version=1)))
        boundaries.approve(
            db_session=x,
            grid=rows[0][0],
            row=rows[0][1],
            actor="admin:x",
            at=clock.now(),
            note=None,
        )
        x.commit()
        with pytest.raises(ConflictError, match="is approved"):
            boundaries.reject(
                db_session=y,
                grid=rows[1][0],
                row=rows[1][1],
                actor="admin:y",
                at=clock.now(),
                note=None,
            )
        y.rollback()
    finally:
        x.close()
        y.close()
    with session_factory() as check:
        states = [b.status for b in boundaries.versions(db_session=check, grid_code=GRID)]
        assert states == ["approved"]
        # the partial unique index backs the rule up: a second row in force cannot be written
        row = boundaries.versions(db_session=check, grid_code=GRID)[0]
        check.add(
            GridBoundary(
                **{
                    c: getattr(row, c)
                    for c in (
                        "grid_code",
                        "geometry",
                        "min_lat_e6",
                        "max_lat_e6",
                        "min_lon_e6",
                        "max_lon_e6",
                        "area_m2",
                        "status",
                        "source",
                        "proposed_by",
                        "proposed_at",
                    )
                },
                version=2,
            )
        )
        with pytest.raises(IntegrityError):
            check.flush()


def test_a_case_lying_outside_its_grid_is_judged_by_distance_alone(
    db_session: Session, demo: DemoData, clock: FrozenClock, settings: Settings
) -> None:
    """A handheld's report made across the street, outside its own grid's boundary: the gate
    cannot ask for a photo inside the boundary and near the case both, so distance decides."""
    grid = db_session.get(Grid, GRID)
    assert grid is not None
    boundaries.imported(
        db_session=db_session,
        grid=grid,
        actor="import",
        at=clock.now(),
        geom=boundaries.parse_geometry(square(WEST, SOUTH, EAST, NORTH)),
    )
    row = boundaries.current(db_session=db_session, grid_code=GRID)
    case = Case(lat_e6=30_251_000, lon_e6=120_173_000, verify_requested_at=None)
    facts = check_evidence(
        case=case,
        settings=settings,
        taken_at=clock.now(),
        blobs=[PHOTO],
        boundary=row,
        loc={"lat_e6": 30_251_000, "lon_e6": 120_173_050},
    )
    assert facts["boundary_skipped"] == "case outside the boundary" and facts["distance_m"] < 10
