"""The workers API: PINs set scoped, checked and never shown; sessions and flags readable in
the caller's area only."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from hub.seed import DemoData
from hub.workers.models import WorkerPin
from protocol import pin as pin_mod

W = "w00100101"  # a worker of street 330102001
OTHER_STREET_W = "w00200101"  # street 330102002


def auth(demo: DemoData, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[label]}"}


def test_a_pin_is_stored_salted_and_slow_and_never_returned(
    client: TestClient, demo: DemoData, db_session: Session
) -> None:
    op = auth(demo, "street-330102001-operator")
    resp = client.put(f"/api/workers/{W}/pin", headers=op, json={"pin": "2580"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"worker_id", "set_at", "set_by", "iterations"}
    assert body["set_by"] == "operator:street-330102001-operator"
    row = db_session.get(WorkerPin, W)
    assert row is not None and row.iterations == pin_mod.ITERATIONS
    salt = bytes.fromhex(row.salt_hex)
    assert len(salt) == pin_mod.SALT_BYTES
    assert row.hash_hex == hashlib.pbkdf2_hmac("sha256", b"2580", salt, row.iterations).hex()
    assert pin_mod.check([row.salt_hex, row.iterations, row.hash_hex], "2580")
    assert "2580" not in (row.salt_hex + row.hash_hex)
    # a second worker with the same PIN gets another salt, so another hash
    assert (
        client.put("/api/workers/a0010101/pin", headers=op, json={"pin": "2580"}).status_code == 200
    )
    db_session.expire_all()
    other = db_session.get(WorkerPin, "a0010101")
    assert other is not None and other.hash_hex != db_session.get(WorkerPin, W).hash_hex  # type: ignore[union-attr]


def test_bad_pins_and_callers_are_refused_with_a_clear_reason(
    client: TestClient, demo: DemoData
) -> None:
    op = auth(demo, "street-330102001-operator")
    for pin, code in (("1234", "weak_pin"), ("0000", "weak_pin"), ("9876", "weak_pin")):
        resp = client.put(f"/api/workers/{W}/pin", headers=op, json={"pin": pin})
        assert resp.status_code == 422 and resp.json()["code"] == code, resp.text
    for bad in ("12a4", "123", "123456789", "", 1234, None):
        resp = client.put(f"/api/workers/{W}/pin", headers=op, json={"pin": bad})
        assert resp.status_code == 422, (bad, resp.text)
        assert "pin" in resp.text
    assert (
        client.put(f"/api/workers/{W}/pin", headers=op, json={"pin": "2580", "x": 1}).status_code
        == 422
    )
    assert (
        client.put("/api/workers/nobody/pin", headers=op, json={"pin": "2580"}).status_code == 404
    )
    # another street's worker is not this operator's to change (nor to know of)
    resp = client.put(f"/api/workers/{OTHER_STREET_W}/pin", headers=op, json={"pin": "2580"})
    assert resp.status_code == 404
    unit = auth(demo, "unit-330102001001-office")
    assert (
        client.put(f"/api/workers/{W}/pin", headers=unit, json={"pin": "2580"}).status_code == 403
    )
    assert client.put(f"/api/workers/{W}/pin", json={"pin": "2580"}).status_code == 401


def test_sessions_and_checks_are_read_in_the_callers_area(
    client: TestClient, demo: DemoData
) -> None:
    other = auth(demo, "street-330102002-operator")
    assert client.get(f"/api/workers/{W}/sessions", headers=other).status_code == 404
    assert client.get(f"/api/workers/{W}/signin-failures", headers=other).status_code == 404
    mine = auth(demo, "street-330102001-operator")
    assert client.get(f"/api/workers/{W}/sessions", headers=mine).json() == []
    assert (
        client.get("/api/worker-checks", headers=mine, params={"status": "bogus"}).status_code
        == 422
    )
    unit = auth(demo, "unit-330102001001-office")
    assert client.get("/api/worker-checks", headers=unit).status_code == 403
    assert client.get(f"/api/workers/{W}/sessions", headers=unit).status_code == 403
    assert client.get(f"/api/workers/{W}/signin-failures", headers=unit).status_code == 403
