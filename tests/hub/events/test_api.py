"""REST API of events and rejection counters, and the media download of an event's photo."""

from __future__ import annotations

import os
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.cases.models import Case
from hub.ingest.processor import Processor
from hub.mqtt_messages import Inbound
from hub.seed import DemoData
from hub.settings import Settings
from tests.builders.devices import TestDevice


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_events_rejections_and_media_download(
    client: TestClient,
    demo: DemoData,
    settings: Settings,
    processor: Processor,
    device_factory: Callable[..., TestDevice],
) -> None:
    admin = _auth(settings.admin_token.get_secret_value())
    dev = device_factory("hh-ev")
    body = {
        "id": "hh-ev",
        "kind": "handheld",
        "public_key": dev.public_key.hex(),
        "grid_code": demo.grids[0],
    }
    assert client.post("/api/devices", json=body, headers=admin).status_code == 201
    photo = os.urandom(20_000)
    msgs = [
        dev.event("report", {"text": "bin full", "category": "garbage"}, blobs=[dev.media(photo)]),
        *dev.chunks(photo),
        ("gl/v1/hh-ev/evt/report", b"not json"),
    ]
    processor.process([Inbound(t, p) for t, p in msgs])
    with processor.session_factory() as s:  # the report reached the case workflow
        case = s.scalars(select(Case).where(Case.device_id == "hh-ev")).one()
        assert (case.event_seq, case.category_code, case.grid_code) == (1, "garbage", demo.grids[0])

    own = _auth(demo.tokens["street-330102001-operator"])
    foreign = _auth(demo.tokens["street-330102002-operator"])
    events = client.get("/api/events", headers=own).json()
    assert [(e["device_id"], e["seq"], e["kind"]) for e in events] == [("hh-ev", 1, "report")]
    assert client.get("/api/events", headers=foreign).json() == []
    counters = client.get("/api/events/rejections", headers=own).json()
    assert {c["reason"]: c["count"] for c in counters} == {"malformed": 1}

    sha = dev.media(photo)["sha256"]
    r = client.get(f"/api/media/{sha}/content", headers=own)
    assert r.status_code == 200 and r.content == photo
    assert r.headers["content-type"] == "image/jpeg"
    assert client.get(f"/api/media/{sha}/content", headers=foreign).status_code == 404
    assert client.get(f"/api/media/{sha}/content").status_code == 401
    assert client.get(f"/api/media/{sha}", headers=own).json()["status"] == "complete"
