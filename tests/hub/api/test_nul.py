"""A NUL anywhere in a request (address, query, JSON body) is a 422 before any route runs:
PostgreSQL cannot store or compare one, so it must never reach the database as a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hub.seed import DemoData

STREET_A = "street-330102001-operator"


def _as(demo: DemoData) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[STREET_A]}"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/workers/w%00/track?day=2026-01-05",
        "/api/media/ab%00cd",
        "/api/stats/areas/330102%00001",
        "/api/v1/access/log?person=a%00b",
        "/api/cases?q=%00",
        "/api/fleet/devices?grid=%00",
    ],
)
def test_a_nul_in_the_address_or_query_is_a_422(
    client: TestClient, demo: DemoData, path: str
) -> None:
    resp = client.get(path, headers=_as(demo))
    assert resp.status_code == 422, (path, resp.status_code, resp.text)
    assert resp.json()["code"] == "invalid_input" and "NUL" in resp.json()["message"]


def test_a_nul_in_a_json_body_is_a_422_and_an_escaped_backslash_is_not(
    client: TestClient, demo: DemoData
) -> None:
    headers = {**_as(demo), "Content-Type": "application/json"}
    resp = client.patch("/api/workers/w00100101", content=b'{"name": "a\\u0000b"}', headers=headers)
    assert resp.status_code == 422 and "NUL" in resp.json()["message"], resp.text
    resp = client.patch(
        "/api/workers/w00100101", content=b'{"name": "a\\\\u0000b"}', headers=headers
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "a\\u0000b"  # a backslash and "u0000": no NUL at all
    # the body reaches the route unchanged after the check
    resp = client.patch("/api/workers/w00100101", json={"name": "张伟"}, headers=_as(demo))
    assert resp.status_code == 200 and resp.json()["name"] == "张伟"
