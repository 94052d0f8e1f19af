"""The case page (#/cases/<id>) in the Debian Chromium against the hub over HTTP: a reported
case with a real photo and a real WAV clip stored the way ingest stores them, the photo shown,
the audio playing (its requests answered with ranges), the map with the report and verification
locations and their distance, a dispatch through the confirmation dialog, a refused action
showing the hub's message, a live transition re-rendering the page, and a street operator who
opens another street's case seeing the hub's 404 and nothing of it. Screenshots at 1920 and
768 px: ``var/test-artifacts/console/case-1920.png``, ``case-768.png``."""

from __future__ import annotations

import io
import math
import struct
import wave
import zlib
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas import boundaries
from hub.areas.models import Grid
from hub.cases import actions
from hub.cases.flows import device_events
from hub.cases.flows.unit_feedback import submit_feedback
from hub.cases.geo import haversine_m
from hub.cases.models import Case, FieldTask
from hub.clock import FrozenClock
from hub.media.store import FileBlobStore
from hub.notify import service as notify_service
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import (
    GRID,
    GRID_LAT,
    GRID_LON,
    OTHER_STREET_GRID,
    add_handheld,
    report_event,
    store_blob,
    verify_event,
)
from tests.hub.console.test_console_browser import sign_in
from tests.support.accounts import give_passwords

STREET_A = "street-330102001-operator"
STREET_B = "street-330102002-operator"
PASSWORD = "street A night shift"
OFFICE = "Qinghefang Community office"
OFF_LAT = GRID_LAT + 300  # the verifier stood ~33 m north of the report


def png(width: int = 96, height: int = 64) -> bytes:
    """A real PNG (a colour gradient) the browser decodes."""
    raw = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 2, y * 3, 160)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def wav(seconds: float = 1.5, rate: int = 8000) -> bytes:
    """A real WAV: a 440 Hz tone, 16-bit mono (24 KB: more than one 16 KiB chunk)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = (
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        w.writeframes(b"".join(frames))
    return out.getvalue()


def filed_case(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> tuple[Case, list[dict[str, Any]], Case]:
    """A street A report with a photo and an audio clip, filed by the district operator and
    waiting for dispatch; and a case of street B."""
    store = FileBlobStore(settings.media_dir)
    photo = store_blob(db_session, store, at=clock.now(), data=png(), mime="image/png")
    audio = store_blob(db_session, store, at=clock.now(), data=wav(), mime="audio/wav")
    add_handheld(db_session, at=clock.now())
    grid = db_session.get(Grid, GRID)
    assert grid is not None
    w, s, e, n = (GRID_LON - 1000) / 1e6, (GRID_LAT - 1000) / 1e6, (GRID_LON + 1000) / 1e6, (
        GRID_LAT + 1000) / 1e6  # fmt: skip
    square = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    boundaries.imported(db_session=db_session, grid=grid, actor="import", at=clock.now(),
                        geom=boundaries.parse_geometry(square))  # fmt: skip
    manual = settings.model_copy(update={"auto_dispatch_reports": False})
    event = report_event(seq=1, at=clock.now(), text="井盖缺失 manhole cover missing")
    event["blobs"] = [photo, audio]
    case = device_events.on_report(db_session=db_session, event=event, clock=clock, settings=manual)
    actions.file(
        db_session=db_session,
        case=case,
        actor="operator:district-operator",
        at=clock.now(),
        reason="核实属实 confirmed by phone",
    )
    other_photo = store_blob(
        db_session,
        store,
        at=clock.now(),
        data=png(32, 32),
        mime="image/png",
        grid=OTHER_STREET_GRID,
        device_id="hh-0002",
    )
    other_event = report_event(
        seq=1,
        at=clock.now(),
        grid=OTHER_STREET_GRID,
        device_id="hh-0002",
        lat_e6=GRID_LAT + 20_000,
        text="other street's secret",
    )
    other_event["blobs"] = [other_photo]
    other = device_events.on_report(
        db_session=db_session, event=other_event, clock=clock, settings=settings
    )
    give_passwords(db_session, settings, clock, PASSWORD, STREET_A, STREET_B)
    return case, [photo, audio, other_photo], other


def resized(pg, width: int) -> None:
    """Wait until the page has laid itself out at ``width`` (and Leaflet has followed)."""
    pg.set_viewport_size({"width": width, "height": 1080 if width > 1000 else 1024})
    pg.wait_for_function("(w) => window.innerWidth === w", arg=width)
    pg.evaluate("() => new Promise((ok) => requestAnimationFrame(() => ok()))")


def no_horizontal_cut(pg) -> None:
    width = pg.evaluate("document.documentElement.scrollWidth")
    assert width <= pg.viewport_size["width"], width


def test_the_case_page_media_map_dispatch_and_verification(
    page,
    served_hub: str,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    artifacts: Path,
    session_factory,
) -> None:
    pg, outside = page
    case, (photo, audio, _), _other = filed_case(db_session, clock, settings, demo)
    media_answers: list[tuple[str, int, str | None]] = []
    pg.on(
        "response",
        lambda r: (
            media_answers.append((r.url, r.status, r.request.headers.get("range")))
            if "/api/media/" in r.url
            else None
        ),
    )

    sign_in(pg, served_hub, STREET_A, PASSWORD)
    expect(pg.locator("#summary")).to_contain_text("共")
    pg.goto(f"{served_hub}/console#/cases/{case.id}")
    expect(pg.locator("#detail h2")).to_contain_text(f"案件 {case.id}")
    detail = pg.locator("#detail")
    expect(detail).to_contain_text("井盖缺失")
    expect(detail.locator(".meta")).to_contain_text("Qinghefang Community grid 1")
    expect(detail.locator(".meta")).to_contain_text("Worker 00100101")  # the reporter by name

    # the seven steps: collect and file done (by name), dispatch is next, the rest greyed
    steps = detail.locator("ol.steps li")
    expect(steps).to_have_count(7)
    assert steps.evaluate_all("els => els.map(e => e.dataset.step + ':' + e.className)") == [
        "collect:step done",
        "file:step done",
        "dispatch:step current",
        "handle:step todo",
        "feedback:step todo",
        "verify:step todo",
        "evaluate:step todo",
    ]
    expect(steps.nth(0)).to_contain_text("网格员 Worker 00100101")
    expect(steps.nth(1)).to_contain_text("district-operator · Shangcheng District")
    expect(steps.nth(1)).to_contain_text("核实属实")

    # the photo is decoded; a click enlarges it
    thumb = detail.locator("img.thumb")
    expect(thumb).to_have_count(1)
    pg.wait_for_function("() => document.querySelector('img.thumb').naturalWidth > 0")
    assert thumb.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [96, 64]
    thumb.click()
    expect(pg.locator("dialog.viewer")).to_be_visible()
    pg.wait_for_function("() => document.querySelector('dialog.viewer img').naturalWidth > 0")
    pg.locator("dialog.viewer button").click()
    expect(pg.locator("dialog.viewer")).to_be_hidden()

    # the audio plays: play() resolves and time passes; Chromium fetched it by ranges
    played = pg.evaluate(
        """async () => { const a = document.querySelector('#detail audio');
             a.muted = true; await a.play();
             await new Promise((ok) => { const t0 = a.currentTime;
               const tick = () => a.currentTime > t0 ? ok() : setTimeout(tick, 50); tick(); });
             a.pause(); return {duration: a.duration, time: a.currentTime}; }"""
    )
    assert 1.4 < played["duration"] < 1.6 and played["time"] > 0, played
    audio_url = f"/api/media/{audio['sha256']}/content"
    ranged = [(s, r) for u, s, r in media_answers if u.endswith(audio_url) and r]
    assert ranged and all(s == 206 for s, _ in ranged), media_answers
    r = pg.evaluate(
        "(u) => fetch(u, {headers: {Range: 'bytes=0-43'}}).then(async r => "
        "[r.status, r.headers.get('content-range'), (await r.arrayBuffer()).byteLength])",
        audio_url,
    )
    assert r == [206, f"bytes 0-43/{audio['size']}", 44]

    # the map: the grid's point, its neighbour, the report; no verification yet
    box = detail.locator("#case-map-box")
    expect(box.locator("path.m-report")).to_have_count(1)
    expect(box.locator("path.m-grid")).to_have_count(1)
    expect(box.locator("path.m-grids")).to_have_count(1)
    expect(box.locator(".legend")).to_contain_text("上报位置")
    expect(box.locator("path.m-boundary")).to_have_count(1)  # the grid's polygon, dashed
    expect(box.locator(".legend")).to_contain_text("网格边界（第 1 版）")
    expect(detail.locator(".media figure.image figcaption")).to_have_text("上报 · 照片")
    expect(detail.locator(".media figure.audio figcaption")).to_have_text("上报 · 录音")
    expect(box.locator("#distance")).to_have_text("尚无现场核查位置。")
    assert box.locator(".leaflet-tile").count() == 0

    for width in (1920, 768):
        resized(pg, width)
        no_horizontal_cut(pg)
        assert thumb.is_visible() and box.locator(".case-map").is_visible()
    resized(pg, 1920)

    # dispatch through the dialog, to a unit picked by name
    buttons = detail.locator(".actions button")
    expect(buttons).to_have_text(["作废", "派遣", "挂账", "督办", "下发任务"])  # + a task
    detail.locator("button[data-action=dispatch]").click()
    dialog = pg.locator("dialog.act")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".q")).to_have_text(f"确认对案件 {case.id} 执行“派遣”？")
    dialog.locator("select[name=unit_id]").select_option(label=f"{OFFICE}（按类别自动选定）")
    assert dialog.locator(".fields label > span").all_inner_texts() == ["处置单位", "理由"]
    dialog.locator("textarea[name=reason]").fill("请尽快处理")
    dialog.locator("button.primary").click()
    expect(dialog).to_be_hidden()
    expect(detail.locator("h2 .badge").first).to_have_text("已派遣")
    last = detail.locator("ol.timeline li").last
    expect(last).to_contain_text("派遣")
    expect(last).to_contain_text(STREET_A)
    expect(last).to_contain_text(OFFICE)
    expect(last).to_contain_text("请尽快处理")
    expect(detail.locator("li.step[data-step=dispatch]")).to_contain_text(STREET_A)
    expect(detail.locator("li.step[data-step=handle]")).to_have_class("step current")

    # the unit handles, the worker confirms on site ~33 m away; a live transition re-renders
    with session_factory() as s:
        row = s.get(Case, case.id)
        actions.accept(
            db_session=s, case=row, actor="unit:unit-330102001001-office", at=clock.now()
        )
        submit_feedback(
            db_session=s,
            case=row,
            actor="unit:unit-330102001001-office",
            text="已更换井盖",
            blobs=[],
            clock=clock,
            settings=settings,
        )
        s.commit()
        task = row.verify_task_id
    with session_factory() as s:
        device_events.on_verify(
            db_session=s,
            event=verify_event(
                seq=2, at=clock.now(), case_id=case.id, task_id=task, lat_e6=OFF_LAT, blobs=[photo]
            ),
            clock=clock,
            settings=settings,
        )
        s.commit()
    pg.evaluate(
        "(id) => window.dispatchEvent(new CustomEvent('gridlink:live', {detail: {type: "
        "'transition', data: {case_id: id, action: 'close', to_status: 'closed'}}}))",
        case.id,
    )
    expect(detail.locator("h2 .badge").first).to_have_text("已结案")
    expected = haversine_m(GRID_LAT, GRID_LON, OFF_LAT, GRID_LON)
    expect(detail.locator("#distance")).to_have_text(f"上报位置与核查位置相距 {expected:.1f} 米")
    expect(detail.locator("path.m-verify")).to_have_count(1)
    expect(detail.locator("path.m-distance")).to_have_count(1)
    expect(detail.locator("li.step[data-step=verify]")).to_have_class("step done")
    expect(detail.locator("li.step[data-step=verify]")).to_contain_text("Worker 00100101")
    # live transitions re-render the page meanwhile: a retrying check, not a snapshot
    expect(detail.locator(".actions button")).to_have_text(
        ["退回返工", "满意度评价", "群众投诉重办", "回访", "下发任务"]
    )
    pg.wait_for_function(
        "() => [...document.querySelectorAll('img.thumb')].every(i => i.naturalWidth > 0)"
    )
    pg.screenshot(path=str(artifacts / "case-1920.png"), full_page=True)
    resized(pg, 768)
    no_horizontal_cut(pg)
    pg.screenshot(path=str(artifacts / "case-768.png"), full_page=True)
    assert outside.urls == []


def test_a_refused_action_shows_the_hubs_message(
    page,
    served_hub: str,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
) -> None:
    pg, _ = page
    case, _, _ = filed_case(db_session, clock, settings, demo)
    sign_in(pg, served_hub, STREET_A, PASSWORD)
    expect(pg.locator("#summary")).to_contain_text("共")
    pg.goto(f"{served_hub}/console#/cases/{case.id}")
    pg.locator("button[data-action=dispatch]").click()
    # meanwhile another operator voids the case
    row = db_session.get(Case, case.id)
    actions.void(
        db_session=db_session,
        case=row,
        actor="operator:district-operator",
        at=clock.now(),
        reason="invalid",
    )
    db_session.commit()
    dialog = pg.locator("dialog.act")
    dialog.locator("button.primary").click()
    message = (
        f"cannot dispatch case {case.id} in status voided; dispatch is allowed from: filed, parked"
    )
    expect(dialog.locator(".dialog-error")).to_have_text(message)
    expect(dialog).to_be_visible()
    expect(pg.locator("#detail h2 .badge").first).to_have_text("已立案")  # not while it is open
    dialog.locator("button.cancel").click()
    # the void reached the page live; it re-renders once the dialog is closed
    expect(pg.locator("#detail h2 .badge").first).to_have_text("已作废")


def test_another_streets_case_and_media_stay_hidden(
    page,
    served_hub: str,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
) -> None:
    pg, outside = page
    _, (_, _, other_photo), other = filed_case(db_session, clock, settings, demo)
    # signed out: the case's address shows the sign-in form and nothing of the case
    pg.goto(f"{served_hub}/console#/cases/{other.id}")
    pg.wait_for_selector("#signin")
    assert "other street" not in pg.content()

    sign_in(pg, served_hub, STREET_A, PASSWORD)
    expect(pg.locator("#summary")).to_contain_text("共")
    pg.goto(f"{served_hub}/console#/cases/{other.id}")
    expect(pg.locator("#detail .error")).to_have_text(f"case {other.id} not found")
    html = pg.content()
    assert "other street's secret" not in html and OTHER_STREET_GRID not in html
    assert pg.locator("#detail img, #detail audio, #case-map").count() == 0
    url = f"/api/media/{other_photo['sha256']}/content"
    got = pg.evaluate("(u) => fetch(u).then(async r => [r.status, await r.text()])", url)
    assert got[0] == 404 and other_photo["sha256"] in got[1] and "secret" not in got[1]
    acted = pg.evaluate(
        "(id) => fetch(`/api/cases/${id}/accept`, {method: 'POST', body: '{}', headers: "
        "{'Content-Type': 'application/json'}}).then(r => r.status)",
        other.id,
    )
    assert acted in (403, 404)  # no CSRF token: refused before the case is even looked at
    assert outside.urls == []


def test_a_one_key_case_shows_its_badge_and_what_the_liaisons_were_told(
    page,
    served_hub: str,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
) -> None:
    pg, outside = page
    unit = notify_service.get_unit(
        db_session=db_session, unit_id=demo.units["Qinghefang Community property & sanitation"]
    )
    notify_service.create_liaison(
        db_session=db_session, unit=unit, name="王联络", channel="webhook",
        address="https://sanitation.example.org/hook", kinds=[], settings=settings,
        at=clock.now(),
    )  # fmt: skip
    event = report_event(seq=1, at=clock.now(), category="garbage", text="垃圾着火")
    event["body"]["one_key"] = True
    case = device_events.on_report(db_session=db_session, event=event, clock=clock,
                                   settings=settings)  # fmt: skip
    give_passwords(db_session, settings, clock, PASSWORD, STREET_A)
    db_session.commit()
    sign_in(pg, served_hub, STREET_A, PASSWORD)
    expect(pg.locator("#summary")).to_contain_text("共")
    expect(pg.locator(f"tr[data-id='{case.id}'] .tag.one-key")).to_have_text("一键上报")
    pg.goto(f"{served_hub}/console#/cases/{case.id}")
    detail = pg.locator("#detail")
    expect(detail.locator("h2 .badge.one-key")).to_have_text("一键上报")
    notice = detail.locator("ul.notices li.notice")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("一键上报")
    expect(notice.locator("li.delivery")).to_contain_text("https://sanitation.example.org/hook")
    expect(notice.locator("li.delivery b")).to_have_text("待发送")  # fmt: skip
    assert outside.urls == []


def test_a_two_unit_case_shows_its_units_and_takes_a_co_handlers_part(
    page,
    served_hub: str,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
) -> None:
    pg, outside = page
    event = report_event(seq=1, at=clock.now(), category="illegal_construction", text="违建")
    case = device_events.on_report(db_session=db_session, event=event, clock=clock,
                                   settings=settings)  # fmt: skip
    give_passwords(db_session, settings, clock, PASSWORD, STREET_A)
    db_session.commit()
    sign_in(pg, served_hub, STREET_A, PASSWORD)
    expect(pg.locator("#summary")).to_contain_text("共")
    pg.goto(f"{served_hub}/console#/cases/{case.id}")
    units = pg.locator("#detail ul.units")
    expect(units.locator("li.lead")).to_contain_text("主办")
    expect(units.locator("li.lead")).to_contain_text("property & sanitation")
    expect(units.locator("li.co")).to_contain_text(f"协办 {OFFICE}")
    expect(units.locator("li.co")).to_contain_text("属地 · 待反馈")
    pg.locator("button[data-action=co_feedback]").click()
    dialog = pg.locator("dialog.act")
    dialog.locator("select[name=unit_id]").select_option(label=OFFICE)
    dialog.locator("textarea[name=text]").fill("社区已上门劝导")
    dialog.locator("button.primary").click()
    expect(dialog).to_be_hidden()
    expect(units.locator("li.co")).to_contain_text("已反馈")
    expect(units.locator("li.co .why")).to_have_text("社区已上门劝导")
    expect(pg.locator("ol.timeline li").last).to_contain_text("协办反馈")
    # a rectification notice with its own deadline, listed under the case's supervision
    pg.locator("button[data-action=supervise]").click()
    dialog.locator("select[name=level]").select_option(label="整改通知")
    dialog.locator("input[name=deadline_at]").fill("2026-01-09T17:00")
    dialog.locator("button.primary").click()
    expect(dialog).to_be_hidden()
    notice = pg.locator("#detail ol.supervisions li.sup")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("整改通知")
    expect(notice).to_contain_text("待答复")
    assert outside.urls == []


def test_a_task_with_a_reference_photo_is_sent_from_the_case_page(
    page,
    served_hub: str,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
) -> None:
    """下发任务: the operator names a title, a text and one of the case's photos; the task goes
    to the grid's handheld as a signed command, and the case page lists it with its status."""
    pg, _ = page
    case, (photo, _, _), _ = filed_case(db_session, clock, settings, demo)
    sign_in(pg, served_hub, STREET_A, PASSWORD)
    expect(pg.locator("#summary")).to_contain_text("共")
    pg.goto(f"{served_hub}/console#/cases/{case.id}")
    pg.locator("button[data-action=task]").click()
    dialog = pg.locator("dialog.act")
    expect(dialog.locator("legend")).to_contain_text("参考图片")
    dialog.locator("input[name=title]").fill("核实井盖位置")
    dialog.locator("textarea[name=text]").fill("请到现场拍照确认")
    dialog.locator(f"input[name=blobs][value='{photo['sha256']}']").check()
    dialog.locator("button.primary").click()
    expect(dialog).to_be_hidden()
    item = pg.locator("ol.tasks li.task")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("核实井盖位置")
    expect(item.locator(".state")).to_have_text("已发送")
    expect(item).to_contain_text("已核验参考图 0 张")
    db_session.expire_all()
    (task,) = db_session.scalars(select(FieldTask).where(FieldTask.case_id == case.id))
    assert task.images == [{"sha256": photo["sha256"], "size": photo["size"],
                            "mime": photo["mime"]}]  # fmt: skip
    assert task.device_id == "hh-0001" and task.text == "请到现场拍照确认"
    expect(pg.locator("ol.timeline")).to_contain_text("下发任务")
