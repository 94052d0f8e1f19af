"""The dashboard and the community page in the Debian Chromium against the hub over HTTP: the
figures of seeded cases, ECharts charts drawn (canvas pixels), CSV and XLSX downloads parsed
back, the access log of seeded gate events with the hourly chart, captures only through the
audited endpoint, a street operator seeing only its street (in the page and at the API), no
CSP refusal, nothing fetched from outside, usable at 1920 and 768 px. Screenshots:
dashboard-1920.png, dashboard-768.png, community-1920.png, community-768.png."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import openpyxl
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.access.models import CaptureAudit
from hub.clock import FrozenClock
from hub.media.store import FileBlobStore
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.access.test_api import _log
from tests.hub.console.test_console_browser import sign_in
from tests.hub.stats.test_board import history
from tests.support.accounts import give_passwords

STREET_A = "street-330102001-operator"
PASSWORD = "street A day shift"
# Records every CSP refusal of the page (script, style, image, connection...).
WATCH_CSP = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""
# True when some pixel of the chart's canvas is painted.
CANVAS_PAINTED = """(sel) => { const c = document.querySelector(sel + ' canvas');
  if (!c || !c.width) return false;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; }"""
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def _password(db_session: Session, settings: Settings, clock: FrozenClock) -> None:
    give_passwords(db_session, settings, clock, PASSWORD, STREET_A)


def _shoot(pg, artifacts: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    for width in (1920, 768):
        pg.set_viewport_size({"width": width, "height": 1000})
        pg.wait_for_timeout(300)  # the charts follow the window's resize event
        assert pg.evaluate(NO_SIDEWAYS_SCROLL), f"{name} is cut off at {width} px"
        pg.screenshot(path=str(artifacts / f"{name}-{width}.png"), full_page=True)


def test_the_dashboard_shows_the_months_figures_and_exports_them(
    page,
    served_hub: str,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    store: FileBlobStore,
    artifacts: Path,
    tmp_path: Path,
) -> None:
    pg, outside = page
    history(db_session, clock, settings, store)
    _password(db_session, settings, clock)
    pg.add_init_script(WATCH_CSP)
    sign_in(pg, served_hub, STREET_A, PASSWORD)
    expect(pg.locator("#summary")).to_be_visible()
    pg.goto(f"{served_hub}/console#/dashboard?month=2026-01")
    total = pg.locator("[data-figure=total] b")
    expect(total).to_have_text("4")
    figures = {
        key: pg.inner_text(f"[data-figure={key}] b")
        for key in ("open", "overdue", "on_time_rate", "rework_count", "satisfaction")
    }
    assert figures == {
        "open": "2",
        "overdue": "2",
        "on_time_rate": "50.0%",
        "rework_count": "1",
        "satisfaction": "3.5",
    }
    assert pg.input_value("input[name=month]") == "2026-01"
    first = pg.locator("#board-workers tbody tr").first
    assert first.get_attribute("data-worker") == "w00100101"
    assert first.locator("td").first.inner_text() == "1"
    assert "Qinghefang Community" in pg.inner_text("#board-areas")
    for chart in ("#chart-status", "#chart-level", "#chart-units"):
        pg.wait_for_function(CANVAS_PAINTED, arg=chart)
    html = pg.content()
    for other in ("Xihu Community", "Hubin Street", "w00200101"):
        assert other not in html, other

    with pg.expect_download() as csv_download:
        pg.click("[data-export=workers-csv]")
    saved = tmp_path / "workers.csv"
    csv_download.value.save_as(saved)
    assert csv_download.value.suggested_filename == "gridlink-workers-2026-01.csv"
    raw = saved.read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "排名 (Rank)" and rows[1][:2] == ["1", "w00100101"]
    assert "w00200101" not in {r[1] for r in rows}
    with pg.expect_download() as xlsx_download:
        pg.click("[data-export=units-xlsx]")
    saved = tmp_path / "units.xlsx"
    xlsx_download.value.save_as(saved)
    sheet = openpyxl.load_workbook(saved).worksheets[0]
    office = next(r for r in sheet.iter_rows(min_row=3, values_only=True) if r[1] == (
        "Qinghefang Community office"))  # fmt: skip
    assert office[3] == 4  # cases

    # the month picker: February has one case
    pg.fill("input[name=month]", "2026-02")
    pg.dispatch_event("input[name=month]", "change")
    expect(total).to_have_text("1")
    pg.goto(f"{served_hub}/console#/dashboard?month=2026-01")
    expect(total).to_have_text("4")
    pg.wait_for_function(CANVAS_PAINTED, arg="#chart-status")
    _shoot(pg, artifacts, "dashboard")

    # at the API, from this browser session: the other street's area is not there
    status = pg.evaluate("fetch('/api/stats/areas/330102002').then(r => r.status)")
    assert status == 404
    assert pg.evaluate("window.__csp") == []
    assert outside.urls == []
    pg.click("#signout")
    pg.wait_for_selector("#signin")
    assert "Qinghefang" not in pg.content() and "w00100101" not in pg.content()
    assert pg.evaluate("fetch('/api/stats/board?month=2026-01').then(r => r.status)") == 401


def test_the_community_page_searches_the_access_log_of_its_own_communities(
    page,
    served_hub: str,
    db_session: Session,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    store: FileBlobStore,
    artifacts: Path,
) -> None:
    pg, outside = page
    _log(session_factory, clock, store)  # 11 events in Qinghefang, a tamper in Xihu (street B)
    _password(db_session, settings, clock)
    pg.add_init_script(WATCH_CSP)
    sign_in(pg, served_hub, STREET_A, PASSWORD)
    expect(pg.locator("#summary")).to_be_visible()
    start = clock.now()
    since = start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    until = (start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    pg.goto(f"{served_hub}/console#/community?community=330102001001&since={since}&until={until}")
    expect(pg.locator("#cm-total")).to_have_text("共 11 条")
    options = pg.locator("select[name=community] option").all_inner_texts()
    assert options == ["Qinghefang Community", "Dingxiang Community"]
    expect(pg.locator("#cm-inside tbody")).to_contain_text("浙B22222")
    assert "浙A12345" not in pg.inner_text("#cm-inside")  # it drove out
    expect(pg.locator("#cm-alarms")).to_contain_text("胁迫")
    pg.wait_for_function(CANVAS_PAINTED, arg="#cm-chart")

    # filters: a plate, then a direction and a kind (the hash keeps them)
    pg.fill("input[name=plate]", "浙A12345")
    pg.click("#cm-filters button")
    expect(pg.locator("#cm-total")).to_have_text("共 2 条")
    pg.select_option("select[name=direction]", "out")
    pg.click("#cm-filters button")
    expect(pg.locator("#cm-total")).to_have_text("共 1 条")
    assert "direction=out" in pg.url and "plate=" in pg.url
    pg.fill("input[name=plate]", "")
    pg.select_option("select[name=direction]", "")
    pg.select_option("select[name=ev]", "granted")
    pg.click("#cm-filters button")
    expect(pg.locator("#cm-total")).to_have_text("共 9 条")

    # a capture: no <img> on the API; a reason, the audited endpoint, the bytes from memory
    pg.select_option("select[name=ev]", "")
    pg.click("#cm-filters button")
    expect(pg.locator("#cm-total")).to_have_text("共 11 条")
    srcs = pg.eval_on_selector_all("img", "els => els.map((e) => e.getAttribute('src'))")
    assert not any(s and "/api/" in s for s in srcs), srcs
    pg.locator("button.cm-capture").first.click()
    pg.fill("input[name=reason]", "核查强行开门 case check")
    pg.click(".cm-reason button")
    shot = pg.locator("img.cm-shot")
    expect(shot).to_be_visible()
    assert shot.get_attribute("src").startswith("blob:")
    with session_factory() as check:
        audit = check.scalars(select(CaptureAudit)).one()
        assert audit.reason == "核查强行开门 case check"
        assert audit.actor.endswith(STREET_A)

    # another street's community: not offered, not shown, refused at the API
    pg.goto(f"{served_hub}/console#/community?community=330102002001&since={since}&until={until}")
    expect(pg.locator("#cm-total")).to_have_text("共 11 条")  # falls back to its own
    assert pg.input_value("select[name=community]") == "330102001001"
    assert "face-99" not in pg.content() and "Xihu" not in pg.content()
    other = pg.evaluate("fetch('/api/v1/access/log?community=330102002001').then(r => r.json())")
    assert other["total"] == 0
    figures = pg.evaluate(
        "fetch('/api/v1/access/communities/330102002001/figures').then(r => r.status)"
    )
    assert figures == 404
    # a refusal shows the hub's own message, one line
    too_long = (start + timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    pg.goto(
        f"{served_hub}/console#/community?community=330102001001&since={since}&until={too_long}"
    )
    expect(pg.locator("#cm-error")).to_have_text("want since < until, at most 31 days apart")
    pg.goto(f"{served_hub}/console#/community?community=330102001001&since={since}&until={until}")
    expect(pg.locator("#cm-total")).to_have_text("共 11 条")
    expect(pg.locator("#cm-error")).to_have_text("")
    pg.wait_for_function(CANVAS_PAINTED, arg="#cm-chart")
    _shoot(pg, artifacts, "community")
    assert pg.evaluate("window.__csp") == []
    assert outside.urls == []
