"""A case's short video in the Debian Chromium: a report carrying the 10 s WebM a handheld
makes (the firmware's cutter, tests/support/video.py), stored the way ingest stores blobs, is
shown on the case page as a <video controls> that loads (duration 10 s), seeks (Chromium asks
for ranges, the hub answers 206) and plays."""

from __future__ import annotations

from sqlalchemy.orm import Session

from hub.cases.flows import device_events
from hub.clock import FrozenClock
from hub.media.store import FileBlobStore
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import add_handheld, report_event, store_blob
from tests.hub.console.test_console_browser import sign_in
from tests.support.accounts import give_passwords
from tests.support.video import clip

STREET_A = "street-330102001-operator"
PASSWORD = "street A video shift"


def test_the_case_page_plays_and_seeks_a_reports_video(
    page,
    served_hub: str,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
) -> None:
    pg, outside = page
    data = clip(10)
    store = FileBlobStore(settings.media_dir)
    video = store_blob(db_session, store, at=clock.now(), data=data, mime="video/webm")
    add_handheld(db_session, at=clock.now())
    event = report_event(seq=1, at=clock.now(), text="消防通道被占用 fire lane blocked")
    event["blobs"] = [video]
    case = device_events.on_report(
        db_session=db_session, event=event, clock=clock, settings=settings
    )
    give_passwords(db_session, settings, clock, PASSWORD, STREET_A)
    db_session.commit()
    answers: list[tuple[int, str | None]] = []
    url = f"/api/media/{video['sha256']}/content"
    pg.on(
        "response",
        lambda r: (
            answers.append((r.status, r.request.headers.get("range")))
            if r.url.endswith(url)
            else None
        ),
    )

    sign_in(pg, served_hub, STREET_A, PASSWORD)
    pg.goto(f"{served_hub}/console#/cases/{case.id}")
    figure = pg.locator("#detail .media figure.video")
    figure.locator("video[controls]").wait_for()
    assert figure.locator("figcaption").inner_text() == "上报 · 视频"
    assert figure.locator("video").get_attribute("src") == url
    loaded = pg.evaluate(
        """async () => { const v = document.querySelector('#detail figure.video video');
             if (v.readyState < 1) await new Promise((ok, bad) => {
               v.addEventListener('loadedmetadata', ok, {once: true});
               v.addEventListener('error', () => bad(String(v.error && v.error.message)),
                                  {once: true}); });
             const meta = {ready: v.readyState, duration: v.duration,
                           width: v.videoWidth, height: v.videoHeight};
             await new Promise((ok) => { v.addEventListener('seeked', ok, {once: true});
                                         v.currentTime = 7.5; });
             meta.seeked = v.currentTime;
             v.muted = true; await v.play();
             await new Promise((ok) => { const t0 = v.currentTime;
               const tick = () => v.currentTime > t0 ? ok() : setTimeout(tick, 50); tick(); });
             v.pause(); meta.played = v.currentTime; return meta; }"""
    )
    assert loaded["ready"] >= 1 and abs(loaded["duration"] - 10) < 0.1, loaded
    assert [loaded["width"], loaded["height"]] == [320, 240], loaded
    assert 7.4 < loaded["seeked"] < 7.6 and loaded["played"] > loaded["seeked"], loaded
    ranged = [s for s, r in answers if r]
    assert ranged and all(s == 206 for s in ranged), answers
    assert outside.urls == []
