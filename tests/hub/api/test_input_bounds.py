"""Integers outside what the database can hold are a 422 with a clear message, never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hub.settings import Settings

TOO_BIG = 2**63  # one past the largest 64-bit integer: SQLite raises OverflowError on it
TOO_SMALL = -(2**63) - 1


def _admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (f"/api/events?offset={TOO_BIG}", "offset"),
        (f"/api/events?since_seq={TOO_BIG}", "since_seq"),
        (f"/api/events?since_seq={TOO_SMALL}", "since_seq"),
        (f"/api/events/{TOO_BIG}", "event_id"),
        (f"/api/cases?unit_id={TOO_BIG}", "unit_id"),
        (f"/api/cases?offset={TOO_BIG}", "offset"),
        (f"/api/cases/{TOO_BIG}", "case_id"),
        (f"/api/devices?offset={TOO_BIG}", "offset"),
        (f"/api/tokens/{TOO_BIG}", "token_id"),
    ],
)
def test_out_of_range_query_and_path_integers_are_422(
    client: TestClient, settings: Settings, path: str, name: str
) -> None:
    method = client.delete if path.startswith("/api/tokens/") else client.get
    r = method(path, headers=_admin(settings))
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_input"
    message = r.json()["message"]
    assert name in message
    assert "less than or equal" in message or "greater than or equal" in message


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/cases/1/dispatch", {"unit_id": TOO_BIG}),
        ("/api/cases/1/void", {"reason": "duplicate", "duplicate_of": TOO_BIG}),
        ("/api/tokens", {"name": "x", "role": "unit", "unit_id": TOO_BIG}),
        ("/api/grids", {"code": "33010200100199", "name": "g", "lat_e6": TOO_BIG}),
        (
            "/api/cases",
            {
                "text": "t",
                "grid_code": "33010200100101",
                "loc": {"lat_e6": 2**40, "lon_e6": 0},
            },
        ),
        ("/api/units/1/responsibilities", {"area_code": "330102001"}),
    ],
)
def test_out_of_range_body_integers_are_422(
    client: TestClient, settings: Settings, path: str, body: dict[str, object]
) -> None:
    if path.startswith("/api/units/"):
        path = f"/api/units/{TOO_BIG}/responsibilities"
    r = client.post(path, json=body, headers=_admin(settings))
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_input"
