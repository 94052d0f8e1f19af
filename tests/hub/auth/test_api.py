"""Auth over HTTP: JSON errors, token creation (shown once), who-am-I, revocation, scopes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.seed import DemoData

STREET_A = "street-330102001-operator"


def auth(demo: DemoData, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[label]}"}


def test_auth_errors_are_json(client: TestClient, demo: DemoData) -> None:
    resp = client.get("/api/cases")
    assert resp.status_code == 401 and resp.json()["code"] == "unauthenticated"
    resp = client.get("/api/cases", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401 and resp.json()["message"] == "unknown or revoked token"
    resp = client.get("/api/cases?limit=0", headers=auth(demo, STREET_A))
    assert resp.status_code == 422 and resp.json()["code"] == "invalid_input"
    # An operator cannot mint tokens; the admin can, and revoked tokens stop working.
    body = {"name": "night shift", "role": "operator", "scope_code": "330102002"}
    assert client.post("/api/tokens", json=body, headers=auth(demo, STREET_A)).status_code == 403
    created = client.post("/api/tokens", json=body, headers=auth(demo, "district-admin"))
    assert created.status_code == 201
    token = created.json()["token"]
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me == {
        "name": "night shift",
        "role": "operator",
        "scope_code": "330102002",
        "unit_id": None,
    }
    client.delete(f"/api/tokens/{created.json()['id']}", headers=auth(demo, "district-admin"))
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    listed = client.get("/api/tokens", headers=auth(demo, "district-admin")).json()
    assert all("token" not in t and "token_hash" not in t for t in listed)


def test_tokens_stay_inside_a_scoped_admins_area(client: TestClient, demo: DemoData) -> None:
    admin = auth(demo, "district-admin")
    outside = {"name": "elsewhere", "role": "operator", "scope_code": "330103"}
    r = client.post("/api/tokens", json=outside, headers=admin)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    listed = client.get("/api/tokens", headers=admin).json()
    assert listed and all(t["scope_code"].startswith("330102") for t in listed)
    r = client.delete("/api/tokens/999999", headers=admin)
    assert r.status_code == 404 and r.json()["message"] == "token 999999 not found"


def test_a_token_for_an_unknown_area_is_not_found(client: TestClient, demo: DemoData) -> None:
    body = {"name": "ghost", "role": "operator", "scope_code": "330102009"}
    r = client.post("/api/tokens", json=body, headers=auth(demo, "district-admin"))
    assert r.status_code == 404 and r.json()["message"] == "area 330102009 not found"
