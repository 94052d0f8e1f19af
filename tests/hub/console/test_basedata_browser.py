"""The base-data page in the Debian Chromium against the hub over HTTP: a street operator sees
the residents of its street with the fields its grade allows (the ID number and phone withheld,
never in the page), sees the ID number once an admin grants the identity grade and it types a
purpose, exports with a reason; each read is in the access audit. Screenshot basedata-1920.png."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import FrozenClock
from hub.ingest.processor import Processor
from hub.mqtt_messages import Inbound
from hub.privacy.models import AccessAudit
from hub.seed import DemoData
from hub.settings import Settings
from tests.builders.devices import TestDevice
from tests.hub.console.test_console_browser import sign_in
from tests.support.accounts import give_passwords

STREET_A = "street-330102001-operator"
PASSWORD = "street A day shift"
GRID = "33010200100101"
MAN = "330102198503120014"


def test_the_base_data_page_shows_only_what_the_grade_allows(
    page,
    served_hub: str,
    db_session: Session,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    processor: Processor,
    device_factory: Callable[..., TestDevice],
    artifacts: Path,
) -> None:
    pg, outside = page
    dev = device_factory("hh-console-field")
    dev.register(db_session, GRID)
    db_session.commit()
    head = {"grid": GRID, "worker": "w00100101"}
    house = {"house_code": "H-0101", "address": "1幢101室", "use": "residential"}
    man = {"id_number": MAN, "name": "张伟", "gender": "1", "phone": "13800138000",
           "house_code": "H-0101"}  # fmt: skip
    processor.process([
        Inbound(*dev.event("signin", {**head, "ok": True})),  # forms need a signed-in worker
        Inbound(*dev.event("collect", {**head, "form": "house", "record": house})),
        Inbound(*dev.event("collect", {**head, "form": "resident", "record": man})),
    ])  # fmt: skip
    give_passwords(db_session, settings, clock, PASSWORD, STREET_A)

    sign_in(pg, served_hub, STREET_A, PASSWORD)
    expect(pg.locator("#nav a[data-route=basedata]")).to_have_text("基础数据")
    pg.click("#nav a[data-route=basedata]")
    row = pg.locator("#bd-residents tbody tr").first
    expect(row).to_contain_text("张伟")
    expect(row).to_contain_text("H-0101")
    expect(pg.locator("#bd-grade")).to_contain_text("公民身份号码")
    assert row.locator("td.withheld").count() == 3  # phone, ID number, birth date
    assert MAN not in pg.content() and "13800138000" not in pg.content()

    # an admin grants the identity grade; with a purpose the page shows the number
    root = {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}
    tokens = httpx.get(f"{served_hub}/api/tokens", headers=root).json()
    token_id = next(t["id"] for t in tokens if t["name"] == STREET_A)
    r = httpx.put(f"{served_hub}/api/privacy/grants/{token_id}", headers=root,
                  json={"identity": True, "reason": "街道人口核查"})  # fmt: skip
    assert r.status_code == 200, r.text
    pg.fill("input[name=purpose]", "核实张伟户籍")
    pg.click("#bd-filters button")
    expect(pg.locator("#bd-residents tbody tr").first).to_contain_text(MAN)
    expect(pg.locator("#bd-grade")).to_have_text("本次查询显示全部字段")
    assert "purpose=" in pg.url
    pg.set_viewport_size({"width": 1920, "height": 1000})
    pg.screenshot(path=str(artifacts / "basedata-1920.png"), full_page=True)

    # the export needs a reason; given one, it is fetched and audited
    pg.click("#bd-export button")
    expect(pg.locator("#bd-error")).to_have_text("导出需要填写理由")
    pg.fill("input[name=reason]", "季度人口台账")
    with pg.expect_download() as download:
        pg.click("#bd-export button")
    assert MAN in Path(download.value.path()).read_text(encoding="utf-8-sig")
    expect(pg.locator("#bd-exported")).to_have_text("已导出 1 条")
    with session_factory() as check:
        rows = check.scalars(select(AccessAudit).where(AccessAudit.actor.endswith(STREET_A))
                             .order_by(AccessAudit.id)).all()  # fmt: skip
        assert [(r.action, r.purpose) for r in rows] == [
            ("list", None), ("list", "核实张伟户籍"), ("export", "季度人口台账")]  # fmt: skip
        assert "id_number" in rows[1].fields and "id_number" in rows[0].withheld
    assert outside.urls == []
