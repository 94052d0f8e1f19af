"""The action table behind the case API: one OpenAPI operation per action with its own body,
and a case detail that offers only actions with an endpoint."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from hub.cases.endpoints import ACTION_ENDPOINTS, offered_actions
from hub.cases.models import CaseStatus
from hub.cases.workflow import Action
from hub.clock import FrozenClock
from hub.media.store import FileBlobStore
from hub.seed import DemoData
from tests.hub.builders import GRID, GRID_LAT, GRID_LON, PHOTO, add_handheld, store_blob

PATHS = {row.action.value: row.path for row in ACTION_ENDPOINTS}


def _operator(demo: DemoData) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens['district-operator']}"}


def test_openapi_lists_every_action_with_its_own_body(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert sorted(PATHS) == sorted(
        [
            "file",
            "void",
            "dispatch",
            "accept",
            "feedback",
            "request_verification",
            "close",
            "callback",
            "reopen",
            "rate",
            "escalate",
            "park",
            "supervise",
            "co_assign",
            "co_feedback",
            "co_release",
            "complaint",
            "return_visit",
        ]
    )
    for row in ACTION_ENDPOINTS:
        operation = paths[f"/api/cases/{{case_id}}/{row.path}"]["post"]
        assert operation["tags"] == ["case actions"]
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/CaseDetail"
        }
        if row.body is None:
            assert "requestBody" not in operation
        else:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{row.body.__name__}"}
            assert operation["requestBody"]["required"] is True
    assert "/api/cases/{case_id}/handle" not in paths  # the old alias is served, not listed
    assert (
        len({paths[p]["post"]["operationId"] for p in paths if "/api/cases/{case_id}/" in p}) == 18
    )


def test_next_actions_never_name_an_action_without_an_endpoint() -> None:
    for status in [None, *CaseStatus]:
        offered = set(offered_actions(status))
        assert offered <= set(PATHS), status
        assert not offered & {Action.warn, Action.reject, Action.verify_refused, Action.collect}


def test_every_next_action_of_a_case_answers_when_posted(
    client: TestClient,
    demo: DemoData,
    db_session: Session,
    clock: FrozenClock,
    store: FileBlobStore,
) -> None:
    add_handheld(db_session, at=clock.now())
    store_blob(db_session, store, at=clock.now())
    db_session.commit()
    op = _operator(demo)
    created = client.post(
        "/api/cases",
        headers=op,
        json={"category_code": "garbage", "text": "litter", "grid_code": GRID},
    )
    case_id = created.json()["id"]
    # Walk the case through the loop; at each stop, post every offered action with an empty
    # body: each answers (200, 409 or 422), none is missing (404 / 405).
    steps = [
        ("file", {}),
        ("dispatch", {}),
        ("accept", {}),
        ("feedback", {"text": "done", "blobs": [PHOTO]}),
        (
            "close",
            {"loc": {"lat_e6": GRID_LAT, "lon_e6": GRID_LON}, "blobs": [PHOTO]},
        ),
    ]
    seen: set[str] = set()
    for action, body in steps:
        detail = client.get(f"/api/cases/{case_id}", headers=op).json()
        assert detail["allowed_actions"], detail["status"]
        for offered in detail["allowed_actions"]:
            seen.add(offered)
            answer = client.post(f"/api/cases/{case_id}/{PATHS[offered]}", headers=op, json={})
            assert answer.status_code not in (404, 405), (offered, answer.text)
        current = client.get(f"/api/cases/{case_id}", headers=op).json()
        if action in current["allowed_actions"]:
            moved = client.post(f"/api/cases/{case_id}/{PATHS[action]}", headers=op, json=body)
            assert moved.status_code == 200, (action, moved.text)
    assert {"file", "dispatch", "accept", "feedback", "close"} <= seen
