"""GET /api/media/{sha256}/content: single Range requests (206 / 416) for audio and video,
the Content-Type and Content-Disposition the browser gets (inline only for photo, audio and
video types), scope (another street's media is 404), sensitive captures still 403."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.cases.flows import device_events
from hub.clock import FrozenClock
from hub.media.models import SensitiveKind
from hub.media.service import mark_sensitive
from hub.media.store import FileBlobStore
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import GRID, OTHER_STREET_GRID, report_event, store_blob
from tests.support.video import clip

STREET_A = "street-330102001-operator"
STREET_B = "street-330102002-operator"
DATA = bytes(range(256)) * 200  # 51,200 bytes: four chunks on the wire


def auth(demo: DemoData, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[label]}"}


def _blob(
    session_factory: sessionmaker[Session],
    settings: Settings,
    clock: FrozenClock,
    *,
    data: bytes = DATA,
    mime: str = "audio/wav",
    grid: str = GRID,
) -> str:
    with session_factory() as db_session:
        ref = store_blob(
            db_session,
            FileBlobStore(settings.media_dir),
            at=clock.now(),
            data=data,
            mime=mime,
            grid=grid,
        )
        db_session.commit()
    return str(ref["sha256"])


def test_range_requests(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    sha = _blob(session_factory, settings, clock)
    url, a = f"/api/media/{sha}/content", auth(demo, STREET_A)

    whole = client.get(url, headers=a)
    assert whole.status_code == 200 and whole.content == DATA
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "audio/wav"
    assert whole.headers["content-length"] == str(len(DATA))
    assert whole.headers["content-disposition"] == f'inline; filename="{sha}.wav"'
    assert whole.headers["etag"] == f'"{sha}"'

    cases = {
        "bytes=0-99": (0, 99),
        "bytes=20000-": (20000, len(DATA) - 1),
        "bytes=-500": (len(DATA) - 500, len(DATA) - 1),
        "bytes=51000-99999999": (51000, len(DATA) - 1),  # the end is clamped
        "bytes=-999999": (0, len(DATA) - 1),
    }
    for header, (start, end) in cases.items():
        r = client.get(url, headers={**a, "Range": header})
        assert r.status_code == 206, header
        assert r.content == DATA[start : end + 1], header
        assert r.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}", header
        assert r.headers["content-length"] == str(end - start + 1), header

    for header in ("bytes=51200-", "bytes=60000-60010", "bytes=-0", "bytes=10-5"):
        r = client.get(url, headers={**a, "Range": header})
        assert r.status_code == 416, header
        assert r.headers["content-range"] == f"bytes */{len(DATA)}"
        assert r.json()["code"] == "range_not_satisfiable"
        assert len(r.json()["message"].splitlines()) == 1

    # what the hub does not serve as a range gets the whole blob (RFC 9110 allows it)
    for header in ("bytes=0-1,5-9", "items=0-5", "bytes=abc", "bytes=-"):
        r = client.get(url, headers={**a, "Range": header})
        assert r.status_code == 200 and r.content == DATA, header
    # If-Range with another validator: the blob changed (it cannot), so the whole of it
    r = client.get(url, headers={**a, "Range": "bytes=0-9", "If-Range": '"other"'})
    assert r.status_code == 200 and len(r.content) == len(DATA)
    r = client.get(url, headers={**a, "Range": "bytes=0-9", "If-Range": f'"{sha}"'})
    assert r.status_code == 206 and r.content == DATA[:10]


def test_types_and_disposition(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    a = auth(demo, STREET_A)
    page = b"<html><script>alert(document.cookie)</script></html>"
    cases = [
        (b"\xff\xd8\xff photo", "image/jpeg", "image/jpeg", "inline", "jpg"),
        (b"video bytes", "video/mp4", "video/mp4", "inline", "mp4"),
        (page, "text/html", "application/octet-stream", "attachment", "bin"),
        (
            b"<svg onload=alert(1)>",
            "image/svg+xml",
            "application/octet-stream",
            "attachment",
            "bin",
        ),
    ]
    for data, mime, served, disposition, ext in cases:
        sha = _blob(session_factory, settings, clock, data=data, mime=mime)
        r = client.get(f"/api/media/{sha}/content", headers=a)
        assert r.status_code == 200 and r.content == data
        assert r.headers["content-type"].split(";")[0] == served, mime
        assert r.headers["content-disposition"] == f'{disposition}; filename="{sha}.{ext}"'
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]


def test_scope_and_sensitive_captures(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    other = _blob(
        session_factory, settings, clock, data=b"other street audio", grid=OTHER_STREET_GRID
    )
    url = f"/api/media/{other}/content"
    for headers in ({}, {"Range": "bytes=0-3"}):
        r = client.get(url, headers={**auth(demo, STREET_A), **headers})
        assert r.status_code == 404 and r.json()["message"] == f"blob {other} not found"
    assert client.get(url, headers=auth(demo, STREET_B)).status_code == 200
    assert client.get(url, headers={"Range": "bytes=0-3"}).status_code == 401

    # a gate's face capture cited by a case: the detail says so, the content stays 403
    face = b"\xff\xd8 face capture"
    sha = hashlib.sha256(face).hexdigest()
    _blob(session_factory, settings, clock, data=face, mime="image/jpeg")
    with session_factory() as db_session:
        mark_sensitive(
            db_session=db_session, marks=[(sha, SensitiveKind.face, clock.now())], at=clock.now()
        )
        event = report_event(seq=7, at=clock.now())
        event["blobs"] = [{"sha256": sha, "size": len(face), "mime": "image/jpeg"}]
        case = device_events.on_report(
            db_session=db_session, event=event, clock=clock, settings=settings
        )
        db_session.commit()
    a = auth(demo, STREET_A)
    detail = client.get(f"/api/cases/{case.id}", headers=a).json()
    assert [(m["sha256"], m["sensitive"]) for m in detail["media"]] == [(sha, True)]
    r = client.get(f"/api/media/{sha}/content", headers={**a, "Range": "bytes=0-3"})
    assert r.status_code == 403 and r.json()["code"] == "sensitive_blob"


def test_a_handhelds_webm_clip_is_served_inline_and_seeks_by_ranges(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    """The 10 s clip a handheld makes (tests/support/video.py): served as video/webm inline,
    and read back by ranges the way a <video> seeks: the head, then its Cues at the end, then
    the cluster a seek lands in; the pieces are the blob's bytes."""
    data = clip(10)
    sha = _blob(session_factory, settings, clock, data=data, mime="video/webm")
    url, a = f"/api/media/{sha}/content", auth(demo, STREET_A)
    head = client.get(url, headers={**a, "Range": "bytes=0-"})
    assert head.status_code == 206 and head.content == data
    assert head.headers["content-type"] == "video/webm"
    assert head.headers["content-disposition"] == f'inline; filename="{sha}.webm"'
    assert head.headers["content-range"] == f"bytes 0-{len(data) - 1}/{len(data)}"
    cues = data.rindex(bytes.fromhex("1c53bb6b"))  # the Cues element the cutter writes last
    tail = client.get(url, headers={**a, "Range": f"bytes={cues}-"})
    assert tail.status_code == 206 and tail.content == data[cues:]
    assert tail.content[:4] == bytes.fromhex("1c53bb6b")
    mid = len(data) * 3 // 4
    piece = client.get(url, headers={**a, "Range": f"bytes={mid}-{mid + 65535}"})
    assert piece.status_code == 206 and piece.content == data[mid : mid + 65536]
    assert piece.headers["content-length"] == "65536"
    assert hashlib.sha256(data[:mid] + piece.content + data[mid + 65536 :]).hexdigest() == sha
