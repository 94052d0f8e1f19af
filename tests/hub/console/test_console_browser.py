"""The operator console in the Debian Chromium (Playwright) against the hub served over HTTP:
sign-in in Chinese with an English switch, a street operator's session sees only its street,
sign-out leaves nothing behind, Chinese renders as real glyphs, and /docs and /redoc work with
every outside host unreachable. Screenshots: ``var/test-artifacts/console/`` (conftest)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy.orm import Session

from hub.cases.flows import device_events
from hub.clock import FrozenClock
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import report_event
from tests.support.accounts import give_passwords
from tests.support.waiting import wait_until

STREET_A = "street-330102001-operator"
PASSWORD = "street A night shift"


def two_streets_cases(db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData):
    own = device_events.on_report(
        db_session=db_session,
        event=report_event(seq=1, at=clock.now(), text="井盖缺失 manhole cover"),
        clock=clock,
        settings=settings,
    )
    other_grid = next(g for g in demo.grids if g.startswith("330102002"))
    device_events.on_report(
        db_session=db_session,
        event=report_event(
            seq=2,
            at=clock.now(),
            grid=other_grid,
            device_id="hh-0002",
            lat_e6=31_000_000,
            text="other street's secret",
        ),
        clock=clock,
        settings=settings,
    )
    give_passwords(db_session, settings, clock, PASSWORD, STREET_A)
    return own, other_grid


def sign_in(pg, hub: str, account: str, password: str) -> None:
    pg.goto(f"{hub}/console")
    pg.fill("input[name=account]", account)
    pg.fill("input[name=password]", password)
    pg.click("#signin button[type=submit]")


def test_a_street_operator_signs_in_sees_its_street_and_signs_out_clean(
    page,
    served_hub: str,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    artifacts: Path,
) -> None:
    pg, outside = page
    own, other_grid = two_streets_cases(db_session, clock, settings, demo)

    pg.goto(f"{served_hub}/console")
    assert pg.inner_text("#signin h2") == "登录"
    assert pg.get_attribute("html", "lang") == "zh-CN"
    pg.screenshot(path=str(artifacts / "signin-zh.png"), full_page=True)

    sign_in(pg, served_hub, STREET_A, "not the password")
    expect(pg.locator("#signin-error")).to_contain_text("登录失败")
    assert pg.input_value("input[name=password]") == ""  # never left in the form

    sign_in(pg, served_hub, STREET_A, PASSWORD)
    expect(pg.locator("#summary")).to_have_text("共 1 件案件")
    html = pg.content()
    assert own.grid_code in html and other_grid not in html
    assert "other street's secret" not in html
    pg.click("tr.case")
    pg.wait_for_selector("#detail h2")
    assert "井盖缺失" in pg.inner_text("#detail")
    pg.screenshot(path=str(artifacts / "cases-zh.png"), full_page=True)

    # the session is an HttpOnly, SameSite=Strict cookie; the page holds no token anywhere
    (cookie,) = pg.context.cookies()
    assert cookie["name"] == "gridlink_session" and cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert pg.evaluate("document.cookie") == ""
    stored = pg.evaluate("JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
    assert cookie["value"] not in stored and "glt_" not in stored

    pg.click("#signout")
    pg.wait_for_selector("#signin")
    html = pg.content()
    for trace in (STREET_A, own.grid_code, "井盖缺失", "330102001", cookie["value"]):
        assert trace not in html, trace
    assert pg.inner_text("#signin-error") == "已退出登录。"
    pg.screenshot(path=str(artifacts / "signed-out-zh.png"), full_page=True)
    # dead on the hub too: a reload shows the sign-in form, the old cookie opens nothing
    pg.context.add_cookies([{**cookie}])
    pg.reload()
    pg.wait_for_selector("#signin")
    assert pg.evaluate("fetch('/api/me').then(r => r.status)") == 401
    assert outside.urls == []


def test_the_english_switch(page, served_hub: str, artifacts: Path, demo: DemoData) -> None:
    pg, _ = page
    pg.goto(f"{served_hub}/console")
    pg.click("#lang")
    assert pg.inner_text("#signin button[type=submit]") == "Sign in"
    assert pg.get_attribute("html", "lang") == "en"
    pg.screenshot(path=str(artifacts / "signin-en.png"), full_page=True)
    pg.reload()  # the choice is kept (a preference, not a secret)
    assert pg.inner_text("#signin h2") == "Sign in"
    pg.click("#lang")
    assert pg.inner_text("#signin h2") == "登录"


def test_the_demo_link_opens_a_session_and_keeps_no_token(
    page, served_hub: str, demo: DemoData
) -> None:
    pg, _ = page
    token = demo.tokens[STREET_A]
    pg.goto(f"{served_hub}/console#token={token}")
    expect(pg.locator("#summary")).to_contain_text("共")
    assert STREET_A in pg.inner_text("#me")
    assert "#" not in pg.url
    assert token not in pg.content()
    stored = pg.evaluate("JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
    assert token not in stored


def test_a_malformed_demo_link_leaves_no_token_in_the_address_bar(
    page, served_hub: str, demo: DemoData
) -> None:
    pg, _ = page
    malformed = demo.tokens[STREET_A] + "%E0%A4%A"  # decodeURIComponent throws on it
    pg.goto(f"{served_hub}/console#token={malformed}")
    expect(pg.locator("#signin")).to_be_visible()
    assert "#" not in pg.url and demo.tokens[STREET_A] not in pg.url


def test_the_old_consoles_stored_token_is_removed(page, served_hub: str, demo: DemoData) -> None:
    pg, _ = page
    pg.goto(f"{served_hub}/console")
    pg.wait_for_selector("#signin")
    pg.evaluate("(t) => localStorage.setItem('gridlink.token', t)", demo.tokens[STREET_A])
    pg.reload()
    pg.wait_for_selector("#signin")
    assert pg.evaluate("localStorage.getItem('gridlink.token')") is None


def _glyph_png(pg, text: str) -> bytes:
    pg.evaluate(
        """(text) => { let s = document.querySelector('#probe');
           if (!s) { s = document.createElement('span'); s.id = 'probe';
             s.style.cssText = 'font-size:40px;padding:4px;display:inline-block';
             document.body.append(s); }
           s.textContent = text; }""",
        text,
    )
    return pg.locator("#probe").screenshot()


def test_chinese_renders_as_real_glyphs(
    page, served_hub: str, artifacts: Path, demo: DemoData
) -> None:
    pg, _ = page
    pg.goto(f"{served_hub}/console")
    pg.wait_for_selector("#signin")
    # the font Chromium actually used for the heading's text
    cdp = pg.context.new_cdp_session(pg)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    h1 = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "header h1"})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": h1})["fonts"]
    assert fonts and all("CJK" in f["familyName"] for f in fonts), fonts
    # a missing glyph is the same box for every character; real glyphs differ from it and
    # from each other (U+0378 and U+0379 are unassigned: no font has them)
    box_a, box_b = _glyph_png(pg, "\u0378"), _glyph_png(pg, "\u0379")
    assert box_a == box_b
    wang, ge = _glyph_png(pg, "网"), _glyph_png(pg, "格")
    assert wang != ge and box_a not in (wang, ge)
    (artifacts / "glyph-wang.png").write_bytes(wang)
    (artifacts / "glyph-missing.png").write_bytes(box_a)
    pg.screenshot(path=str(artifacts / "cjk-signin.png"))


def test_docs_and_redoc_render_offline(
    page, served_hub: str, artifacts: Path, demo: DemoData
) -> None:
    pg, outside = page
    pg.goto(f"{served_hub}/docs")
    pg.wait_for_selector(".opblock-tag", timeout=60_000)
    tags = [t.split("\n")[0] for t in pg.locator(".opblock-tag").all_inner_texts()]
    assert {"auth", "areas", "cases", "case actions", "workers", "ota"} <= set(tags), tags
    for name in ("auth", "case actions"):  # a tag opens on a click and lists its operations
        pg.locator(".opblock-tag", has_text=name).first.click()
    wait_until("the two tags' operations rendered",
               lambda: pg.locator(".opblock-summary-path").count() > 20, timeout=60)  # fmt: skip
    paths = pg.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/session" in p for p in paths)
    assert any("/api/cases/{case_id}/close" in p.replace("\u200b", "") for p in paths)
    pg.screenshot(path=str(artifacts / "docs.png"))

    pg.goto(f"{served_hub}/redoc")
    pg.wait_for_selector("[data-section-id^='operation/']", state="attached", timeout=60_000)
    assert "Gridlink hub" in pg.inner_text(".api-info h1")
    assert pg.locator("[data-section-id^='operation/']").count() > 50
    pg.screenshot(path=str(artifacts / "redoc.png"))
    assert outside.urls == [], outside.urls
