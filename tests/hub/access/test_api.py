"""The access API over HTTP: scoping, people / consent / lists round trip, log search and
figures, audited captures (the generic media endpoint refuses them), bounded integers, and no
response schema carrying a face template."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.access.models import CaptureAudit
from hub.access.service import record_batch
from hub.clock import FrozenClock
from hub.media.store import FileBlobStore
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.access.conftest import COMMUNITY, OTHER_COMMUNITY, add_gate
from tests.hub.builders import store_blob

BASE = "/api/v1/access"
STREET_A = "street-330102001-operator"
STREET_B = "street-330102002-operator"
FACE_JPEG = b"\xff\xd8\xff\xe0" + b"face at the gate " * 200


def auth(demo: DemoData, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[label]}"}


def admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}


def test_people_consent_and_lists_round_trip(client: TestClient, demo: DemoData) -> None:
    a = auth(demo, STREET_A)
    r = client.put(
        f"{BASE}/communities/{COMMUNITY}/people/p-12", json={"cards": ["04a1b2c3"]}, headers=a
    )
    assert r.status_code == 200, r.text
    assert (r.json()["cards"], r.json()["version"], r.json()["face_template"]) == (
        ["04A1B2C3"],
        1,
        None,
    )
    r = client.post(
        f"{BASE}/communities/{COMMUNITY}/people/p-12/consents",
        json={"purpose": "gate entry"},
        headers=a,
    )
    assert r.status_code == 201 and r.json()["recorded_by"] == f"operator:{STREET_A}"
    r = client.put(
        f"{BASE}/communities/{COMMUNITY}/vehicles/{quote('浙A12345')}",
        json={"person": "p-12"},
        headers=a,
    )
    assert r.status_code == 200 and r.json()["plate"] == "浙A12345"
    bad = client.put(f"{BASE}/communities/{COMMUNITY}/vehicles/ABC", json={}, headers=a)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"
    taken = client.put(
        f"{BASE}/communities/{COMMUNITY}/people/p-13", json={"cards": ["04A1B2C3"]}, headers=a
    )
    assert taken.status_code == 409 and taken.json() == {
        "code": "credential_taken",
        "message": "card 04A1B2C3 already belongs to person p-12",
    }
    status = client.get(f"{BASE}/communities/{COMMUNITY}/lists", headers=a).json()
    assert (status["version"], status["log_floor"]) == (2, 0)
    # Another street neither sees nor changes this community.
    b = auth(demo, STREET_B)
    assert client.get(f"{BASE}/communities/{COMMUNITY}/people/p-12", headers=b).status_code == 404
    r = client.put(
        f"{BASE}/communities/{COMMUNITY}/people/p-14", json={"cards": ["0D0D0D0D"]}, headers=b
    )
    assert r.status_code == 404 and r.json()["code"] == "community_not_found"
    unit = auth(demo, f"unit-{COMMUNITY}-office")
    assert client.get(f"{BASE}/communities/{COMMUNITY}/people", headers=unit).status_code == 403
    page = client.get(f"{BASE}/communities/{COMMUNITY}/people?limit=1", headers=a).json()
    assert page["total"] == 1 and [p["id"] for p in page["items"]] == ["p-12"]


def _log(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    store: FileBlobStore,
    *,
    data: bytes = FACE_JPEG,
    mime: str = "image/jpeg",
) -> dict[str, Any]:
    with session_factory() as db_session:
        at = clock.now()
        face = add_gate(db_session, "face-01", "face", at=at)
        barrier = add_gate(db_session, "bar-01", "barrier", at=at)
        other = add_gate(db_session, "face-99", "face", at=at, grid="33010200200101")
        ref = store_blob(db_session, store, at=at, data=data, mime=mime, device_id="face-01")
        ts = int(at.timestamp())
        events = [
            {
                "ev": "granted",
                "ts": ts + i * 60,
                "ms": 0,
                "door": "d1",
                "dir": "in" if i % 3 else "out",
                "by": "face",
                "person": f"p-{i % 4}",
                "score": 90,
                "template": "t-1",
                "blob": 0,
                "lat_ms": 5,
            }
            for i in range(6)
        ] + [{"ev": "duress", "ts": ts + 400, "ms": 0, "door": "d1", "person": "p-1"}]
        record_batch(
            db_session=db_session,
            device=face,
            seq=1,
            body={"events": events},
            blobs=[ref],
            historical=False,
            at=at,
        )
        plates = [
            {
                "ev": "granted",
                "ts": ts + 4000,
                "ms": 0,
                "door": "g1",
                "dir": "in",
                "by": "plate",
                "plate": "浙A12345",
            },
            {
                "ev": "granted",
                "ts": ts + 4100,
                "ms": 0,
                "door": "g1",
                "dir": "in",
                "by": "plate",
                "plate": "浙B22222",
            },
            {
                "ev": "granted",
                "ts": ts + 4200,
                "ms": 0,
                "door": "g2",
                "dir": "out",
                "by": "plate",
                "plate": "浙A12345",
            },
            {
                "ev": "denied",
                "ts": ts + 4300,
                "ms": 0,
                "door": "g1",
                "dir": "in",
                "by": "plate",
                "plate": "沪C33333",
                "reason": "unknown",
            },
        ]
        record_batch(
            db_session=db_session,
            device=barrier,
            seq=1,
            body={"events": plates},
            blobs=[],
            historical=False,
            at=at,
        )
        record_batch(
            db_session=db_session,
            device=other,
            seq=1,
            body={"events": [{"ev": "tamper", "ts": ts, "ms": 0}]},
            blobs=[],
            historical=False,
            at=at,
        )
        db_session.commit()
        return ref


def test_log_search_figures_and_scope(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    store: FileBlobStore,
    settings: Settings,
) -> None:
    _log(session_factory, clock, store)
    a = auth(demo, STREET_A)
    everything = client.get(f"{BASE}/log", headers=admin(settings)).json()
    assert everything["total"] == 12
    mine = client.get(f"{BASE}/log", headers=a).json()
    assert mine["total"] == 11 and {i["community"] for i in mine["items"]} == {COMMUNITY}
    assert client.get(f"{BASE}/log?community={OTHER_COMMUNITY}", headers=a).json()["total"] == 0
    by_person = client.get(f"{BASE}/log?person=p-1", headers=a).json()
    assert [i["ev"] for i in by_person["items"]] == ["duress", "granted", "granted"]
    plate = client.get(f"{BASE}/log?plate={quote('浙A12345')}&direction=out", headers=a).json()
    assert [(i["door"], i["direction"]) for i in plate["items"]] == [("g2", "out")]
    alarms = client.get(f"{BASE}/log?alarms_only=true", headers=a).json()
    assert [(i["ev"], i["is_alarm"]) for i in alarms["items"]] == [("duress", True)]
    one_gate = client.get(f"{BASE}/log?device_id=face-01", headers=a).json()
    assert one_gate["total"] == 7 and {i["device_id"] for i in one_gate["items"]} == {"face-01"}
    assert client.get(f"{BASE}/log?historical=false", headers=a).json()["total"] == 11
    assert client.get(f"{BASE}/log?historical=true", headers=a).json()["total"] == 0
    start = clock.now()
    ranged = client.get(
        f"{BASE}/log",
        params={
            "since": (start + timedelta(seconds=60)).isoformat(),
            "until": (start + timedelta(seconds=180)).isoformat(),
            "ev": "granted",
        },
        headers=a,
    ).json()
    assert ranged["total"] == 2
    page = client.get(f"{BASE}/log?limit=4&offset=4", headers=a).json()
    assert page["total"] == 11 and len(page["items"]) == 4
    figures = client.get(
        f"{BASE}/communities/{COMMUNITY}/figures",
        params={"since": start.isoformat(), "until": (start + timedelta(hours=3)).isoformat()},
        headers=a,
    )
    assert figures.status_code == 200, figures.text
    body = figures.json()
    hours = [
        (h["people_in"], h["people_out"], h["vehicles_in"], h["vehicles_out"])
        for h in body["hours"]
    ]
    assert hours == [(4, 2, 0, 0), (0, 0, 2, 1)]
    assert [v["plate"] for v in body["vehicles_inside"]] == ["浙B22222"]
    assert body["alarms"] == {"duress": 1} and body["denied"] == {"unknown": 1}
    too_long = client.get(
        f"{BASE}/communities/{COMMUNITY}/figures",
        params={"since": start.isoformat(), "until": (start + timedelta(days=40)).isoformat()},
        headers=a,
    )
    assert too_long.status_code == 422 and "31 days" in too_long.json()["message"]
    b = auth(demo, STREET_B)
    assert (
        client.get(
            f"{BASE}/communities/{COMMUNITY}/figures",
            params={"since": start.isoformat(), "until": (start + timedelta(hours=1)).isoformat()},
            headers=b,
        ).status_code
        == 404
    )


def test_captures_only_through_the_audited_endpoint(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    store: FileBlobStore,
    settings: Settings,
) -> None:
    ref = _log(session_factory, clock, store)
    sha = ref["sha256"]
    a = auth(demo, STREET_A)
    for path in (f"/api/media/{sha}", f"/api/media/{sha}/content"):
        refused = client.get(path, headers=a)
        assert refused.status_code == 403
        assert refused.json()["code"] == "sensitive_blob"
        assert f"/api/v1/access/captures/{sha}/content" in refused.json()["message"]
    no_reason = client.get(f"{BASE}/captures/{sha}/content", headers=a)
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["message"]
    r = client.get(
        f"{BASE}/captures/{sha}/content",
        params={"reason": "incident 42: who entered at 09:01"},
        headers=a,
    )
    assert r.status_code == 200 and r.content == FACE_JPEG
    assert (
        client.get(
            f"{BASE}/captures/{sha}/content",
            params={"reason": "curious"},
            headers=auth(demo, STREET_B),
        ).status_code
        == 404
    )
    with session_factory() as db_session:
        audits = db_session.scalars(select(CaptureAudit)).all()
    assert [(x.sha256, x.actor, x.reason, x.at) for x in audits] == [
        (sha, f"operator:{STREET_A}", "incident 42: who entered at 09:01", clock.now())
    ]
    assert audits[0].log_id is not None
    listed = client.get(f"{BASE}/captures/audits?sha256={sha}", headers=admin(settings)).json()
    assert [x["reason"] for x in listed] == ["incident 42: who entered at 09:01"]
    assert client.get(f"{BASE}/captures/audits", headers=a).status_code == 403


def test_a_capture_is_served_inline_only_as_a_photo(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    store: FileBlobStore,
) -> None:
    page = b"<html><script>fetch('/api/session')</script></html>"
    sha = _log(session_factory, clock, store, data=page, mime="text/html")["sha256"]
    params = {"reason": "incident 43: the gate's capture"}
    r = client.get(f"{BASE}/captures/{sha}/content", params=params, headers=auth(demo, STREET_A))
    assert r.status_code == 200 and r.content == page
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"] == f'attachment; filename="{sha}.bin"'
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert r.headers["cache-control"] == "no-store"
    assert "etag" not in r.headers and "accept-ranges" not in r.headers


def test_a_jpeg_capture_is_served_inline(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    store: FileBlobStore,
) -> None:
    sha = _log(session_factory, clock, store)["sha256"]
    params = {"reason": "incident 44: who entered"}
    r = client.get(f"{BASE}/captures/{sha}/content", params=params, headers=auth(demo, STREET_A))
    assert r.status_code == 200 and r.content == FACE_JPEG
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["content-disposition"] == f'inline; filename="{sha}.jpg"'
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert r.headers["cache-control"] == "no-store"


def test_out_of_range_integers_are_422(client: TestClient, settings: Settings) -> None:
    too_big = 2**63
    for path in (
        f"{BASE}/log?offset={too_big}",
        f"{BASE}/communities/{COMMUNITY}/people?offset={too_big}",
        f"{BASE}/captures/audits?limit={too_big}",
    ):
        r = client.get(path, headers=admin(settings))
        assert r.status_code == 422 and r.json()["code"] == "invalid_input", path
    r = client.put(
        f"{BASE}/communities/{COMMUNITY}/people/p-1",
        json={"cards": ["0A0A0A0A"], "valid_to": too_big},
        headers=admin(settings),
    )
    assert r.status_code == 422 and "valid_to" in r.json()["message"]


def test_no_response_schema_carries_a_face_template(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    fields = {
        (name, prop)
        for name, schema in doc["components"]["schemas"].items()
        for prop in schema.get("properties", {})
        if "template" in prop.lower()
    }
    assert fields == {("PersonRead", "face_template"), ("AccessLogRead", "template_id")}
    paths = [p for p in doc["paths"] if p.startswith(BASE)]
    assert len(paths) >= 14
