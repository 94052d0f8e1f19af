"""Live updates in the Debian Chromium: two consoles of street A and one of street B open; a
case made through the device-event flow reaches both of A's pages (and not B's), a device of
street A going offline shows the shell's toast on the queue page, and a session ended on the
hub takes its page back to the sign-in form within seconds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import expect
from sqlalchemy.orm import Session

from hub.auth import passwords, sessions
from hub.cases.flows import device_events
from hub.clock import FrozenClock
from hub.devices import service as devices
from hub.devices.schemas import DeviceCreate
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import GRID, OTHER_STREET_GRID, report_event
from tests.hub.console.test_console_browser import PASSWORD, STREET_A, sign_in
from tests.support.waiting import wait_until

STREET_B = "street-330102002-operator"
# every live event the page received, in order (registered before the console's scripts run)
RECORD = "window.__live = []; addEventListener('gridlink:live', (e) => __live.push(e.detail));"


@contextmanager
def console(chromium, hub: str, account: str, password: str) -> Iterator[object]:
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    context.route(
        "**/*", lambda r: r.continue_() if r.request.url.startswith(hub + "/") else r.abort()
    )
    context.add_init_script(RECORD)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    sign_in(pg, hub, account, password)
    pg.wait_for_selector("#summary")
    try:
        yield pg
    finally:
        context.close()


def live_cases(pg) -> list[int]:
    return pg.evaluate("__live.filter(e => e.type === 'case').map(e => e.data.id)")


def test_events_reach_every_open_view_of_their_scope_only(
    chromium,
    served_hub: str,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    artifacts,
) -> None:
    for account in (STREET_A, STREET_B):
        passwords.set_password(
            db_session=db_session,
            account=account,
            password=PASSWORD,
            by="test",
            scope_code=None,
            settings=settings,
            clock=clock,
        )
    for dev, grid in (("hh-a1", GRID), ("hh-b1", OTHER_STREET_GRID)):
        devices.register_device(
            db_session=db_session,
            data=DeviceCreate(id=dev, kind="handheld", public_key="ab" * 32, grid_code=grid),
            clock=clock,
        )
        device = devices.get_device(db_session=db_session, device_id=dev)
        devices.set_online(db_session=db_session, device=device, online=True, at=clock.now())
    db_session.commit()
    with (
        console(chromium, served_hub, STREET_A, PASSWORD) as a1,
        console(chromium, served_hub, STREET_A, PASSWORD) as a2,
        console(chromium, served_hub, STREET_B, PASSWORD) as b,
    ):
        case = device_events.on_report(
            db_session=db_session,
            event=report_event(seq=1, at=clock.now(), text="路灯不亮 street light out"),
            clock=clock,
            settings=settings,
        )
        db_session.commit()
        for pg in (a1, a2):
            wait_until("the case in both of A's views", lambda pg=pg: live_cases(pg) == [case.id])
        transitions = a1.evaluate("__live.filter(e => e.type === 'transition').length")
        assert transitions >= 1

        # street B's device goes offline: B's queue page shows the toast, A's pages nothing
        for dev, online in (("hh-b1", False), ("hh-a1", False)):
            device = devices.get_device(db_session=db_session, device_id=dev)
            devices.set_online(db_session=db_session, device=device, online=online, at=clock.now())
            db_session.commit()
        expect(b.locator("#toasts .toast.offline")).to_contain_text("设备离线：hh-b1")
        expect(b.locator("#toasts .toast.offline")).to_contain_text("Xihu Community grid 1")
        for pg in (a1, a2):
            expect(pg.locator("#toasts .toast.offline")).to_contain_text("设备离线：hh-a1")
            assert "hh-b1" not in pg.content()
        a1.screenshot(path=str(artifacts / "live-toast.png"), full_page=True)
        seen_b = b.evaluate("JSON.stringify(__live)")
        assert (
            str(case.id)
            not in b.evaluate("JSON.stringify(__live.filter(e => e.type !== 'device'))")
            and "hh-a1" not in seen_b
            and GRID not in seen_b
        )

        # a session ended on the hub (an admin ends the account's sessions): A's pages go
        # back to the sign-in form by themselves, B's stays
        sessions.end_account_sessions(
            db_session=db_session, account=STREET_A, at=clock.now(), reason="ended by admin"
        )
        db_session.commit()
        for pg in (a1, a2):
            pg.wait_for_selector("#signin", timeout=15_000)
            assert "hh-a1" not in pg.content() and "路灯不亮" not in pg.content()
        assert b.locator("#signin").count() == 0
