"""The fleet page in the Debian Chromium: a street operator sees its street's devices with
their figures, a device going offline changes its row live, a reboot is sent after a
confirmation, a refusal shows the hub's message, a worker's patrol track is drawn on the map;
nothing of street B is shown or reachable. Screenshots fleet-1920.png and fleet-768.png."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.clock import FrozenClock
from hub.commands.models import Command
from hub.devices import service as devices
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.console.test_console_browser import PASSWORD, STREET_A, sign_in
from tests.hub.fleet_fixtures import WORKER_A, WORKER_B, feed, make_fleet
from tests.support.accounts import give_passwords


def test_the_fleet_page_of_a_street_operator(
    page,
    served_hub: str,
    db_session: Session,
    processor,
    device_factory,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    artifacts: Path,
) -> None:
    pg, outside = page
    fleet = make_fleet(db_session, processor, device_factory, clock)
    give_passwords(db_session, settings, clock, PASSWORD, STREET_A)
    pg.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(pg, served_hub, STREET_A, PASSWORD)
    pg.wait_for_selector("#summary")
    pg.click("#nav a[data-route=fleet]")
    expect(pg.locator("#fleet-summary")).to_have_text("共 2 台设备，在线 2 台")
    rows = pg.locator("tr.device")
    expect(rows).to_have_count(2)
    hh = pg.locator('tr[data-device="hh-a1"]')
    expect(hh).to_contain_text("76%")
    expect(hh).to_contain_text("1.4.2")
    expect(hh.locator("td.backlog")).to_have_text("3")
    expect(hh).to_contain_text("手持终端")
    expect(pg.locator('tr[data-device="ac-a1"]')).to_contain_text("门禁控制器")
    group = pg.locator("tr.group").first
    expect(group).to_contain_text("Qinghefang Community")  # names, codes on hover
    expect(group).to_contain_text("Qinghefang Community grid 1")
    html = pg.content()
    assert "hh-b1" not in html and "330102002" not in html

    # the handheld's will: its row goes offline without a reload
    feed(processor, [fleet.handheld.will()])
    expect(hh).to_have_attribute("data-online", "false", timeout=10_000)
    expect(hh.locator("td.online")).to_have_text("离线")
    expect(pg.locator("#fleet-summary")).to_have_text("共 2 台设备，在线 1 台")
    expect(pg.locator("#toasts .toast")).to_have_count(0)  # this page shows it itself

    # reboot, after the confirmation
    hh.locator("button[data-op=reboot]").click()
    dialog = pg.locator("#op-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("确认向设备 hh-a1 发送“重启”指令？")
    dialog.locator("button[value=cancel]").click()
    expect(dialog).to_be_hidden()
    assert db_session.scalars(select(Command).where(Command.device_id == "hh-a1")).all() == []
    hh.locator("button[data-op=reboot]").click()
    dialog.locator("#op-send").click()
    expect(pg.locator("#fleet-notice")).to_contain_text("已向 hh-a1 发送“重启”")
    expect(hh.locator("td.pending")).to_have_text("1")
    (cmd,) = db_session.scalars(select(Command).where(Command.device_id == "hh-a1")).all()
    assert cmd.op == "reboot" and cmd.created_by == f"operator:{STREET_A}"

    # config: a bad JSON is caught in the page, the hub's refusal is shown as it says it
    gate = pg.locator('tr[data-device="ac-a1"]')
    devices.revoke_device(db_session=db_session, device_id="ac-a1", clock=clock)
    db_session.commit()
    gate.locator("button[data-op=config]").click()
    dialog.locator("textarea").fill("[1, 2")
    dialog.locator("#op-send").click()
    expect(dialog.locator("#op-error")).to_have_text("配置参数不是有效的 JSON 对象。")
    dialog.locator("textarea").fill('{"heartbeat_s": 30}')
    dialog.locator("#op-send").click()
    expect(dialog.locator("#op-error")).to_have_text("device ac-a1 is revoked")
    dialog.locator("button[value=cancel]").click()

    # the patrol track of street A's worker today (the hub's day: 2026-01-05)
    workers = pg.locator("#track-form select[name=worker] option")
    expect(workers.first).to_be_attached()
    values = workers.evaluate_all("os => os.map(o => o.value)")
    assert WORKER_A in values and WORKER_B not in values
    pg.select_option("#track-form select[name=worker]", WORKER_A)
    pg.fill("#track-form input[name=day]", "2026-01-05")
    pg.click("#track-form button")
    expect(pg.locator("#track-summary")).to_contain_text("12 个定位点")
    expect(pg.locator("#track-map path.track-line")).to_have_count(1)
    pg.screenshot(path=str(artifacts / "fleet-1920.png"), full_page=True)

    pg.set_viewport_size({"width": 768, "height": 1024})
    pg.reload()
    expect(pg.locator("tr.device")).to_have_count(1)  # the revoked gate is gone
    pg.select_option("#track-form select[name=worker]", WORKER_A)
    pg.fill("#track-form input[name=day]", "2026-01-05")
    pg.click("#track-form button")
    expect(pg.locator("#track-map path.track-line")).to_have_count(1)
    # usable at tablet width: nothing wider than the window
    assert pg.evaluate("document.documentElement.scrollWidth") <= 768
    box = pg.locator(".fleet-table table").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 768
    pg.screenshot(path=str(artifacts / "fleet-768.png"), full_page=True)

    # street B's devices and tracks are not reachable from this session either
    status = "url => fetch(url).then(r => r.status)"
    assert pg.evaluate(status, "/api/devices/hh-b1") == 404
    assert pg.evaluate(status, f"/api/workers/{WORKER_B}/track?day=2026-01-05") == 404
    listed = pg.evaluate("fetch('/api/fleet/devices?revoked=true').then(r => r.text())")
    assert "hh-b1" not in listed and "330102002" not in listed
    assert outside.urls == []
