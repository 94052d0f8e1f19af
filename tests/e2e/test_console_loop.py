"""Issue 12's must-show, end to end: an operator signed in to the console (headless Chromium)
sees a grid worker's report from a MicroPython handheld appear live, opens it, sees its photo
and plays its audio, files and dispatches it through the page's dialogs, and watches it close
after the handheld's on-site verification, without reloading. The hub is served over HTTP by
uvicorn next to its ingest worker, on Mosquitto; the browser reaches nothing but the hub.
Screenshots: ``var/test-artifacts/console/e2e-*.png``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from hub.app import create_app
from hub.auth import passwords
from hub.clock import SystemClock
from hub.db import make_engine, make_session_factory, session_scope
from hub.keys import load_or_create
from simulator import Fleet, scenarios
from tests.support.browser import ARTIFACTS
from tests.support.hub import Hub, hub_settings, running_hub
from tests.support.mosquitto import Mosquitto
from tests.support.served import serve
from tests.support.waiting import wait_until

GRID = "33010200100101"
WORKER = "w00100101"
ACCOUNT = "street-330102001-operator"
PASSWORD = "street A day shift"
OFFICE = "Qinghefang Community office"


@pytest.fixture
def manual_hub(tmp_path: Path, broker: Mosquitto) -> Iterator[Hub]:
    """A hub whose reports wait for an operator (no automatic filing and dispatch)."""
    with running_hub(hub_settings(tmp_path, broker, auto_dispatch_reports=False)) as h:
        yield h


@pytest.fixture
def console_url(manual_hub: Hub) -> Iterator[str]:
    """The same hub's API and console over HTTP (another app on the same database)."""
    settings = manual_hub.settings
    engine = make_engine(settings.database_url)
    with session_scope(make_session_factory(engine)) as s:
        passwords.set_password(
            db_session=s,
            account=ACCOUNT,
            password=PASSWORD,
            by="test",
            scope_code=None,
            settings=settings,
            clock=SystemClock(),
        )
    engine.dispose()
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture
def fleet_of(tmp_path: Path, broker: Mosquitto, manual_hub: Hub) -> Iterator[Fleet]:
    assert manual_hub.settings.hub_key_path is not None
    key = load_or_create(manual_hub.settings.hub_key_path)
    f = Fleet(
        broker.host,
        broker.port,
        root=tmp_path / "fleet",
        hub_seed=key.seed,
        accounts=broker.device_account,
    )
    try:
        yield f
    finally:
        f.cleanup()


def test_a_handhelds_report_is_seen_live_dispatched_and_closed_from_the_console(
    manual_hub: Hub,
    console_url: str,
    fleet_of: Fleet,
    chromium,  # noqa: F811
) -> None:
    hub = manual_hub
    shots = ARTIFACTS / "console"
    shots.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    outside: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith(console_url + "/"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    try:
        pg.goto(f"{console_url}/console")
        pg.fill("input[name=account]", ACCOUNT)
        pg.fill("input[name=password]", PASSWORD)
        pg.click("#signin button[type=submit]")
        expect(pg.locator("#summary")).to_contain_text("共 0 件")

        # a grid worker reports with a photo and a voice note on the handheld
        lat, lon = hub.grid_centre(GRID)
        script = [
            {"at": 0, "do": "signin", "worker": WORKER, "pin": "1234"},
            {
                "at": 0.5,
                "do": "report",
                "category": "road_damage",
                "photos": 1,
                "photo_bytes": 40_000,
                "audio_s": 2,
                "text": "人行道地砖松动，老人易绊倒",
            },
            {"at": 900, "do": "end"},
        ]
        dev = fleet_of.add_handheld(
            "hh-console",
            GRID,
            route=[[lat + 100, lon], [lat + 150, lon + 50]],
            scenario=script,
            answers={"verify": "confirm"},
            workers={WORKER: scenarios.pin_record("1234")},
        )
        hub.register(dev)
        dev.start()

        # the case appears on the open queue without a reload
        pg.evaluate("window.__sameDocument = true")  # a reload would drop it
        case_id = wait_until(
            "the report to become a case",
            lambda: next(iter(c["id"] for c in hub.api.get("/api/cases").json()["items"]), None),
            timeout=120,
        )
        row = pg.locator(f"tr.case[data-id='{case_id}']")
        expect(row).to_be_visible(timeout=5_000)
        expect(pg.locator("#summary")).to_contain_text("共 1 件")
        pg.screenshot(path=str(shots / "e2e-queue.png"), full_page=True)

        # the photo is shown once its blob is stored; the audio plays
        wait_until(
            "the report's photo and audio to be stored",
            lambda: (
                all(m["stored"] for m in hub.api.get(f"/api/cases/{case_id}").json()["media"])
                and len(hub.api.get(f"/api/cases/{case_id}").json()["media"]) == 2
            ),
            timeout=120,
        )
        row.click()
        detail = pg.locator("#detail")
        expect(detail.locator("h2")).to_contain_text(f"案件 {case_id}")
        expect(detail).to_contain_text("人行道地砖松动")
        pg.wait_for_function(
            "() => { const i = document.querySelector('#detail img.thumb'); "
            "return i && i.complete && i.naturalWidth > 0; }"
        )
        played = pg.evaluate(
            """async () => { const a = document.querySelector('#detail audio');
                 a.muted = true; await a.play();
                 await new Promise((ok) => { const t0 = a.currentTime;
                   const tick = () => a.currentTime > t0 ? ok() : setTimeout(tick, 50);
                   tick(); });
                 a.pause(); return a.duration; }"""
        )
        assert 1.5 < played < 2.5, played

        # the operator files it, then dispatches it to the community office
        detail.locator("button[data-action=file]").click()
        dialog = pg.locator("dialog.act")
        expect(dialog).to_be_visible()
        reason = dialog.locator("textarea[name=reason]")
        if reason.count():
            reason.fill("现场照片属实")
        dialog.locator("button.primary").click()
        expect(dialog).to_be_hidden()
        expect(detail.locator("h2 .badge").first).to_have_text("已立案")
        detail.locator("button[data-action=dispatch]").click()
        expect(dialog).to_be_visible()
        units = dialog.locator("select[name=unit_id] option").all_inner_texts()
        choice = next(u for u in units if u.startswith(OFFICE))
        dialog.locator("select[name=unit_id]").select_option(label=choice)
        dialog.locator("textarea[name=reason]").fill("请社区尽快处置")
        dialog.locator("button.primary").click()
        expect(dialog).to_be_hidden()
        expect(detail.locator("h2 .badge").first).to_have_text("已派遣")
        pg.screenshot(path=str(shots / "e2e-case-dispatched.png"), full_page=True)

        # the unit handles it and reports back (its own client); the hub sends the handheld
        # its verification task, the worker confirms on site, and the open page follows live
        assert hub.api.post(f"/api/cases/{case_id}/accept", json={}).status_code == 200
        resp = hub.api.post(f"/api/cases/{case_id}/feedback", json={"text": "已重新铺设地砖"})
        assert resp.status_code == 200, resp.text
        expect(detail.locator("h2 .badge").first).to_have_text("已结案", timeout=150_000)
        expect(detail.locator("#distance")).to_contain_text("米")
        pg.screenshot(path=str(shots / "e2e-case-closed.png"), full_page=True)
        assert pg.evaluate("window.__sameDocument === true")
        assert outside == []
    finally:
        context.close()
