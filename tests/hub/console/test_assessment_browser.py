"""The assessment page in the Debian Chromium against the hub over HTTP: a known week of a
worker (tests/hub/assessment/history.py) in the district's and its street's ranking, the star
ratings, and online inspection by the district reviewer (a verdict given, an unqualified one
refused without a reason), no CSP refusal, nothing fetched from outside. Screenshots:
assessment-1920.png, assessment-768.png."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.assessment.models import Inspection
from hub.clock import FrozenClock
from hub.ingest.processor import Processor
from hub.media.store import FileBlobStore
from hub.seed import DemoData
from hub.settings import Settings
from tests.builders.devices import TestDevice
from tests.hub.assessment.history import WORKER, week_of_work
from tests.hub.builders import GRID
from tests.hub.console.test_board_browser import WATCH_CSP, _shoot
from tests.hub.console.test_console_browser import sign_in
from tests.support.accounts import give_passwords

REVIEWER = "district-operator"
PASSWORD = "district review desk"


def test_the_assessment_page_ranks_rates_and_inspects(
    page,
    served_hub: str,
    db_session: Session,
    processor: Processor,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    store: FileBlobStore,
    device_factory: Callable[..., TestDevice],
    artifacts: Path,
) -> None:
    pg, outside = page
    cases, _hh = week_of_work(db_session, processor, clock, settings, store, device_factory)
    give_passwords(db_session, settings, clock, PASSWORD, REVIEWER)
    pg.add_init_script(WATCH_CSP)
    sign_in(pg, served_hub, REVIEWER, PASSWORD)
    expect(pg.locator("#summary")).to_be_visible()
    pg.goto(f"{served_hub}/console#/assessment?month=2026-01")

    top = pg.locator("table[data-ranking='330102'] tbody tr").first
    expect(top).to_have_attribute("data-worker", WORKER)
    figures = {
        key: top.locator(f"td[data-field={key}]").inner_text()
        for key in ("reports", "valid_reports", "visits", "collections", "verifications_on_time")
    }
    assert figures == {
        "reports": "5",
        "valid_reports": "3",
        "visits": "2",
        "collections": "1",
        "verifications_on_time": "1",
    }
    assert top.locator("td").first.inner_text() == "1"
    street = pg.locator("table[data-ranking='330102001'] tbody tr").first
    assert street.get_attribute("data-worker") == WORKER
    grid_stars = pg.locator(f"#as-grids tr[data-rated='{GRID}'] td[data-field=stars]")
    assert grid_stars.inner_text().count("★") + grid_stars.inner_text().count("☆") == 5

    queue = pg.locator("#as-queue tbody tr")
    expect(queue).to_have_count(5)
    pg.click(f"#as-queue tr[data-case='{cases['A']}'] button[data-verdict=qualified]")
    expect(queue).to_have_count(4)
    expect(pg.locator("#as-status")).to_contain_text(f"#{cases['A']}")
    b_row = pg.locator(f"#as-queue tr[data-case='{cases['B']}']")
    b_row.locator("button[data-verdict=unqualified]").click()
    expect(pg.locator("#as-error")).to_contain_text("reason")
    expect(queue).to_have_count(4)  # nothing stored
    b_row.locator("input[name=reason]").fill("同一问题重复上报 / the same problem twice")
    b_row.locator("button[data-verdict=unqualified]").click()
    expect(queue).to_have_count(3)
    db_session.expire_all()
    verdicts = db_session.scalars(select(Inspection).order_by(Inspection.id)).all()
    assert [(v.case_id, v.verdict, v.reviewer) for v in verdicts] == [
        (cases["A"], "qualified", REVIEWER),
        (cases["B"], "unqualified", REVIEWER),
    ]
    _shoot(pg, artifacts, "assessment")

    pg.click("#lang")
    expect(pg.locator("#nav a[data-route=assessment]")).to_have_text("Assessment")
    assert pg.evaluate("window.__csp") == []
    assert outside.urls == []
