"""The case queue page (#/cases) in the Debian Chromium against the hub served over HTTP, with
120 cases: page 3 reached, a status chip and a search narrow the list, the state survives a
reload and the back button, overdue rows stand out, a live "case" event reloads and marks the
new case, and a street operator's session sees only its street (in the page and at the API).
Screenshots: ``queue-1920.png``, ``queue-768.png`` (conftest's artifacts folder)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy.orm import Session

from hub.cases.models import Case
from hub.clock import FrozenClock
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import GRID, OTHER_STREET_GRID
from tests.hub.console.test_console_browser import sign_in
from tests.support.accounts import give_passwords

DISTRICT = "district-operator"
STREET_A = "street-330102001-operator"
PASSWORD = "queue page night shift"
STATUSES = ["dispatched", "filed", "handling", "closed", "pending_acceptance"]


def hundred_and_twenty_cases(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> dict[str, int]:
    """100 cases in street A's grid, 20 in street B's; every fifth is dispatched and every
    fifth handling, half of those overdue; every 7th mentions 井盖 (a manhole cover)."""
    now = clock.now()
    made = {"dispatched": 0, "manhole_dispatched": 0, "b": 0}
    for i in range(120):
        status = STATUSES[i % len(STATUSES)]
        grid = GRID if i < 100 else OTHER_STREET_GRID
        text = f"井盖缺失 第{i}号" if i % 7 == 0 else f"路面破损 第{i}号"
        row = Case(
            status=status,
            grid_code=grid,
            source="report",
            text=text if grid == GRID else f"other street's secret {i}",
            category_code="road_damage",
            level="community",
            media=[],
            reported_at=now - timedelta(minutes=10 * (120 - i)),
            created_at=now,
            updated_at=now,
        )
        if status in ("dispatched", "handling"):
            row.deadline_start_at = now - timedelta(hours=10)
            # odd: overdue; even: dispatched with time to spare, handling near its deadline
            # (75 % of 12 h spent: the warning point passed)
            later = 20 if status == "dispatched" else 2
            row.deadline_at = now + timedelta(hours=-1 if i % 2 else later)
        db_session.add(row)
        if grid == GRID and status == "dispatched":
            made["dispatched"] += 1
            made["manhole_dispatched"] += i % 7 == 0
        made["b"] += grid != GRID
    give_passwords(db_session, settings, clock, PASSWORD, DISTRICT, STREET_A)
    return made


def no_horizontal_cut(pg) -> None:
    assert pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_the_queue_pages_filters_searches_and_keeps_its_state(
    page,
    served_hub: str,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    artifacts: Path,
) -> None:
    pg, outside = page
    made = hundred_and_twenty_cases(db_session, clock, settings, demo)
    pg.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(pg, served_hub, DISTRICT, PASSWORD)
    expect(pg.locator("#summary")).to_have_text("共 120 件案件")
    assert pg.locator("tr.case").count() == 50
    # urgency: the overdue ones first, in red
    first = pg.locator("tr.case").first
    expect(first).to_have_class("case overdue-row")
    assert "已超期" in first.inner_text()
    near = pg.locator("tr.near-row").first
    assert "临期" in near.inner_text()
    assert near.evaluate("(el) => getComputedStyle(el).backgroundColor") == "rgb(255, 244, 214)"
    assert first.evaluate("(el) => getComputedStyle(el).backgroundColor") == "rgb(253, 232, 234)"
    # names, not codes; the code on hover
    grid_cell = first.locator("td .named").nth(1)
    assert grid_cell.get_attribute("title") in (GRID, OTHER_STREET_GRID)
    assert "grid" in grid_cell.inner_text()
    expect(pg.locator("#chips button[data-status=dispatched] .count")).to_have_text(
        str(made["dispatched"] + 4)  # street B has 4 dispatched
    )

    pg.click("#pager a[data-page='3']")
    expect(pg.locator("#pager .current")).to_have_text("3")
    assert "page=3" in pg.url
    expect(pg.locator("tr.case")).to_have_count(20)
    pg.screenshot(path=str(artifacts / "queue-1920.png"), full_page=True)
    no_horizontal_cut(pg)

    # a status chip, then a search, narrow it; the page number goes back to 1
    pg.click("#chips button[data-status=dispatched]")
    expect(pg.locator("#summary")).to_have_text(f"共 {made['dispatched'] + 4} 件案件")
    assert "status=dispatched" in pg.url and "page=" not in pg.url
    pg.fill("input[name=q]", "井盖")
    pg.click("#filters button[type=submit]")
    expect(pg.locator("#summary")).to_have_text(f"共 {made['manhole_dispatched']} 件案件")
    assert all("井盖" in t for t in pg.locator("tr.case td.text").all_inner_texts())

    # the hash is the state: a reload keeps it, the back button goes to the previous one
    pg.reload()
    expect(pg.locator("#summary")).to_have_text(f"共 {made['manhole_dispatched']} 件案件")
    assert pg.input_value("input[name=q]") == "井盖"
    expect(pg.locator("#chips button[data-status=dispatched]")).to_have_class("chip on")
    pg.go_back()
    expect(pg.locator("#summary")).to_have_text(f"共 {made['dispatched'] + 4} 件案件")
    assert pg.input_value("input[name=q]") == ""

    # a live "case" event (as live.js dispatches it) reloads the list and marks the new case
    pg.click("#reset")
    expect(pg.locator("#summary")).to_have_text("共 120 件案件")
    new = Case(
        status="pending_acceptance",
        grid_code=GRID,
        source="hotline",
        text="新案件 live",
        category_code="road_damage",
        level="community",
        media=[],
        reported_at=clock.now(),
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    db_session.add(new)
    db_session.commit()
    pg.evaluate(
        """(id) => window.dispatchEvent(new CustomEvent('gridlink:live',
             {detail: {type: 'case', data: {id, status: 'pending_acceptance'}}}))""",
        new.id,
    )
    expect(pg.locator("#summary")).to_have_text("共 121 件案件")
    expect(pg.locator(f"tr.case.fresh[data-id='{new.id}']")).to_have_count(1)

    # tablet width: the wide columns go, nothing is cut off
    pg.set_viewport_size({"width": 768, "height": 1024})
    expect(pg.locator("th.wide").first).to_be_hidden()
    no_horizontal_cut(pg)
    pg.screenshot(path=str(artifacts / "queue-768.png"), full_page=True)

    # a bad hand-edited hash: the hub's one-line message
    pg.goto(f"{served_hub}/console#/cases?reported_from=2026-02-01&reported_to=2026-01-01")
    expect(pg.locator("#summary .error")).to_contain_text("is after reported_to")
    assert outside.urls == []


def test_a_street_operator_queue_shows_only_its_street(
    page,
    served_hub: str,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
) -> None:
    pg, outside = page
    made = hundred_and_twenty_cases(db_session, clock, settings, demo)
    other_ids = [
        c.id for c in db_session.query(Case).filter(Case.grid_code == OTHER_STREET_GRID).all()
    ]
    sign_in(pg, served_hub, STREET_A, PASSWORD)
    expect(pg.locator("#summary")).to_have_text(f"共 {120 - made['b']} 件案件")
    expect(pg.locator("#chips button[data-status=dispatched] .count")).to_have_text(
        str(made["dispatched"])
    )
    for p in (1, 2):
        if p == 2:
            pg.click("#pager a[data-page='2']")
            expect(pg.locator("#pager .current")).to_have_text("2")
        html = pg.content()
        assert OTHER_STREET_GRID not in html and "other street's secret" not in html
    # the same at the API, with the page's own cookie: a hand-made filter finds nothing
    api = pg.evaluate(
        """async ([grid, id]) => {
             const list = await (await fetch('/api/cases?grid=' + grid)).json();
             const search = await (await fetch('/api/cases?q=secret')).json();
             const one = await fetch('/api/cases/' + id);
             return [list.total, search.total, one.status]; }""",
        [OTHER_STREET_GRID, other_ids[0]],
    )
    assert api == [0, 0, 404]
    # a hand-edited hash with the other street's grid shows nothing of it
    pg.goto(f"{served_hub}/console#/cases?grid={OTHER_STREET_GRID}")
    expect(pg.locator("#summary")).to_have_text("共 0 件案件")
    assert "other street's secret" not in pg.content()
    pg.click("#signout")
    pg.wait_for_selector("#signin")
    assert pg.evaluate("fetch('/api/cases').then(r => r.status)") == 401
    assert outside.urls == []
