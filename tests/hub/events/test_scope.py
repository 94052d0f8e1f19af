"""Media visibility follows references; rejection counters are read per area."""

from __future__ import annotations

import os
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.ingest.processor import Processor
from hub.media.models import Blob
from hub.media.store import FileBlobStore
from hub.mqtt_messages import Inbound
from hub.seed import DemoData
from hub.settings import Settings
from tests.builders.devices import TestDevice
from tests.hub.builders import GRID, OTHER_STREET_GRID

STREET_1 = "street-330102001-operator"
STREET_2 = "street-330102002-operator"


def _auth(demo: DemoData, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[label]}"}


def test_a_photo_is_visible_wherever_an_event_references_it(
    client: TestClient,
    demo: DemoData,
    processor: Processor,
    db_session: Session,
    store: FileBlobStore,
    device_factory: Callable[..., TestDevice],
) -> None:
    far = device_factory("hh-street2")
    far.register(db_session, OTHER_STREET_GRID)
    own = device_factory("hh-street1")
    own.register(db_session, GRID)
    db_session.commit()
    shared, private = os.urandom(3000), os.urandom(2000)
    # Street 2 announces the shared photo first; then street 1's handheld reports the same bytes.
    msgs = [
        far.event("report", {"text": "a"}, blobs=[far.media(shared), far.media(private)]),
        *far.chunks(shared),
        *far.chunks(private),
        own.event("report", {"text": "b"}, blobs=[own.media(shared)]),
    ]
    processor.process([Inbound(t, p) for t, p in msgs])
    sha, other = own.media(shared)["sha256"], far.media(private)["sha256"]
    one, two = _auth(demo, STREET_1), _auth(demo, STREET_2)
    # The street-1 operator reads its handheld's own photo (it was 404 before).
    got = client.get(f"/api/media/{sha}/content", headers=one)
    assert got.status_code == 200 and got.content == shared
    assert client.get(f"/api/media/{sha}/content", headers=two).status_code == 200
    # Only street 2 references the other photo.
    assert client.get(f"/api/media/{other}/content", headers=one).status_code == 404
    assert client.get(f"/api/media/{other}", headers=one).status_code == 404
    assert client.get(f"/api/media/{other}/content", headers=two).status_code == 200
    # Street 1's view of the shared blob does not name the street-2 device that announced it.
    info = client.get(f"/api/media/{sha}", headers=one).json()
    assert info["device_id"] is None and info["grid_code"] is None
    # Identical bytes from two areas stay one stored blob.
    assert db_session.scalar(select(func.count()).select_from(Blob).where(Blob.sha256 == sha)) == 1
    assert [p.name for p in store.root.rglob(sha)] == [sha]


def test_a_case_may_cite_only_blobs_its_caller_can_see(
    client: TestClient,
    demo: DemoData,
    processor: Processor,
    db_session: Session,
    device_factory: Callable[..., TestDevice],
) -> None:
    far = device_factory("hh-street2")
    far.register(db_session, OTHER_STREET_GRID)
    db_session.commit()
    photo = os.urandom(1000)
    msgs = [far.event("report", {"text": "a"}, blobs=[far.media(photo)]), *far.chunks(photo)]
    processor.process([Inbound(t, p) for t, p in msgs])
    one = _auth(demo, STREET_1)
    cited = client.post(
        "/api/cases",
        headers=one,
        json={"text": "copy", "grid_code": GRID, "media": [far.media(photo)]},
    )
    assert cited.status_code == 422 and cited.json()["code"] == "blob_not_found"
    sha = far.media(photo)["sha256"]
    assert client.get(f"/api/media/{sha}", headers=one).status_code == 404


def test_rejection_counters_show_each_area_only_its_devices(
    client: TestClient,
    demo: DemoData,
    settings: Settings,
    processor: Processor,
    db_session: Session,
    device_factory: Callable[..., TestDevice],
) -> None:
    one_dev = device_factory("hh-street1")
    one_dev.register(db_session, GRID)
    two_dev = device_factory("hh-street2")
    two_dev.register(db_session, OTHER_STREET_GRID)
    db_session.commit()
    stranger = device_factory("hh-unknown")
    msgs = [
        ("gl/v1/hh-street1/evt/report", b"not json"),
        ("gl/v1/hh-street2/evt/report", b"not json"),
        ("gl/v1/hh-street2/evt/report", b"not json either"),
        stranger.event("report", {"text": "who am I"}),
    ]
    processor.process([Inbound(t, p) for t, p in msgs])
    one = client.get("/api/events/rejections", headers=_auth(demo, STREET_1)).json()
    assert [(c["reason"], c["count"], c["last_device_id"]) for c in one] == [
        ("malformed", 1, "hh-street1")
    ]
    two = client.get("/api/events/rejections", headers=_auth(demo, STREET_2)).json()
    assert [(c["reason"], c["count"], c["last_device_id"]) for c in two] == [
        ("malformed", 2, "hh-street2")
    ]
    district = client.get("/api/events/rejections", headers=_auth(demo, "district-operator"))
    assert {c["reason"]: c["count"] for c in district.json()} == {"malformed": 3}
    admin = {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}
    everything = client.get("/api/events/rejections", headers=admin).json()
    assert {c["reason"]: c["count"] for c in everything} == {"malformed": 3, "unknown_device": 1}
