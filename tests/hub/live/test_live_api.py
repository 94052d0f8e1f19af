"""``GET /api/live`` over real HTTP (uvicorn on a free port): a case made by another process
arrives within 2 s, each event reaches only the sessions whose scope covers it, Last-Event-ID
resumes, sign-out ends the stream, a session has at most 8 streams, and `gridlink hub run`
stops promptly with a stream open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth import passwords
from hub.cases.flows import device_events
from hub.cases.models import CaseTransition
from hub.cases.parts import parts_of
from hub.clock import FrozenClock
from hub.devices import service as devices
from hub.devices.schemas import DeviceCreate
from hub.live import api as live_api
from hub.live.api import MAX_STREAMS_PER_SESSION
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import GRID, report_event
from tests.hub.live.conftest import Served, Stream, bearer
from tests.support.net import free_port
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[3]
STREET_A = "street-330102001-operator"
STREET_B = "street-330102002-operator"


def other_grid(demo: DemoData) -> str:
    return next(g for g in demo.grids if g.startswith("330102002"))


def report(db_session: Session, clock: FrozenClock, settings: Settings, seq: int, **kw):
    case = device_events.on_report(
        db_session=db_session,
        event=report_event(seq=seq, at=clock.now(), **kw),
        clock=clock,
        settings=settings,
    )
    db_session.commit()
    return case


def test_a_case_made_by_another_process_arrives_within_2_s(
    live_hub: Served, settings: Settings, demo: DemoData
) -> None:
    stream = Stream(live_hub.url, bearer(demo.tokens[STREET_A])).start()
    assert stream.status == 200
    assert stream.raw[0] == "retry: 2000"
    script = textwrap.dedent(
        f"""
        import time
        from hub.cases.flows import device_events
        from hub.clock import FrozenClock
        from hub.db import make_engine, make_session_factory
        from hub.settings import Settings
        from tests.hub.builders import report_event
        from tests.hub.conftest import START
        settings = Settings(env="development", data_dir={str(settings.data_dir)!r},
                            database_url={settings.database_url!r})
        clock = FrozenClock(START)
        engine = make_engine(settings.database_url)
        with make_session_factory(engine)() as s:
            case = device_events.on_report(db_session=s, event=report_event(seq=7, at=clock.now()),
                                           clock=clock, settings=settings)
            s.commit()
            print(case.id, time.time(), flush=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    case_id, committed = out.stdout.split()
    (event,) = stream.wait("the case event", lambda: stream.of("case"), timeout=10)
    assert event.data["id"] == int(case_id) and event.data["grid_code"] == GRID
    assert set(event.data) == {
        "id",
        "status",
        "level",
        "grid_code",
        "category_code",
        "source",
        "deadline_at",
        "at",
    }
    assert event.at - float(committed) < 2.0, f"{event.at - float(committed):.2f} s"
    # its transitions too (collect, file, dispatch ...), naming the case
    moved = stream.wait("its transitions", lambda: stream.of("transition"))
    assert {t.data["case_id"] for t in moved} == {int(case_id)}
    assert set(moved[0].data) == {
        "case_id",
        "action",
        "from_status",
        "to_status",
        "level",
        "actor",
        "at",
    }


def test_each_event_goes_only_to_sessions_whose_scope_covers_it(
    live_hub: Served,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
) -> None:
    a = Stream(live_hub.url, bearer(demo.tokens[STREET_A])).start()
    b = Stream(live_hub.url, bearer(demo.tokens[STREET_B])).start()
    district = Stream(live_hub.url, bearer(demo.tokens["district-operator"])).start()
    unit = Stream(live_hub.url, bearer(demo.tokens["unit-330102001001-office"])).start()
    grid_b = other_grid(demo)
    devices.register_device(
        db_session=db_session,
        data=DeviceCreate(id="hh-b1", kind="handheld", public_key="ab" * 32, grid_code=grid_b),
        clock=clock,
    )
    db_session.commit()
    own = report(db_session, clock, settings, 1, category="other")  # the community office's
    secret = report(
        db_session, clock, settings, 2, grid=grid_b, device_id="hh-0002", lat_e6=31_000_000
    )
    device = devices.get_device(db_session=db_session, device_id="hh-b1")
    devices.set_online(db_session=db_session, device=device, online=True, at=clock.now())
    db_session.commit()

    district.wait(
        "both cases and the device", lambda: len(district.of("case")) == 2 and district.of("device")
    )
    a.wait("street A's case", lambda: a.of("case"))
    b.wait("street B's case and device", lambda: b.of("case") and b.of("device"))
    assert [e.data["id"] for e in a.of("case")] == [own.id]
    assert [e.data["id"] for e in b.of("case")] == [secret.id]
    assert {e.data["case_id"] for e in a.of("transition")} == {own.id}
    assert a.of("device") == []  # street B's device: not even its id
    assert "hh-b1" not in "\n".join(a.raw) and grid_b not in "\n".join(a.raw)
    (dev,) = b.of("device")
    assert dev.data == {
        "device_id": "hh-b1",
        "kind": "handheld",
        "grid_code": grid_b,
        "online": True,
        "at": clock.now().isoformat(),
    }
    # a unit: only the case events of the cases assigned to it, never devices
    assert own.unit_id == demo.units["Qinghefang Community office"]
    unit.wait("its own case", lambda: unit.of("case"))
    assert unit.of("device") == [] and unit.of("alarm") == []
    assert {e.data.get("id", e.data.get("case_id")) for e in unit.events} == {own.id}


def test_last_event_id_resumes_what_was_missed(
    live_hub: Served,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
) -> None:
    token = demo.tokens[STREET_A]
    first = Stream(live_hub.url, bearer(token)).start()
    one = report(db_session, clock, settings, 1)
    (event,) = first.wait("the first case", lambda: first.of("case"))
    first.wait("its transitions", lambda: first.of("transition"))
    last_id = first.events[-1].id
    assert last_id is not None
    first.stop()
    two = report(db_session, clock, settings, 2, lat_e6=30_300_000)
    three = report(db_session, clock, settings, 3, lat_e6=30_400_000)

    resumed = Stream(live_hub.url, {**bearer(token), "Last-Event-ID": last_id}).start()
    resumed.wait("the missed cases", lambda: len(resumed.of("case")) == 2)
    assert [e.data["id"] for e in resumed.of("case")] == [two.id, three.id]
    assert one.id not in {e.data["case_id"] for e in resumed.of("transition")}
    assert {e.data["case_id"] for e in resumed.of("transition")} == {two.id, three.id}
    # without Last-Event-ID (or with a malformed or stale one) a stream starts from now
    fresh = Stream(live_hub.url, bearer(token)).start()
    forged = Stream(live_hub.url, {**bearer(token), "Last-Event-ID": "1-0-0-0-0"}).start()
    four = report(db_session, clock, settings, 4, lat_e6=30_500_000)
    fresh.wait("the new case", lambda: fresh.of("case"))
    forged.wait("the new case", lambda: forged.of("case"))
    assert [e.data["id"] for e in fresh.of("case")] == [four.id]
    assert [e.data["id"] for e in forged.of("case")] == [four.id]


def transition_ids(db_session: Session, case_id: int) -> set[int]:
    db_session.expire_all()
    query = select(CaseTransition.id).where(CaseTransition.case_id == case_id)
    return set(db_session.scalars(query))


def cursors(stream: Stream) -> list[list[int]]:
    """Every ``id:`` the stream was sent (events and keep-alives), as its four ids."""
    lines = [line.removeprefix("id: ") for line in stream.raw if line.startswith("id: ")]
    return [[int(part) for part in line.split("-")[1:]] for line in lines]


def test_a_stream_cursor_carries_only_the_ids_of_its_own_events(
    live_hub: Served,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live_api, "KEEPALIVE_S", 0.3)
    a = Stream(live_hub.url, bearer(demo.tokens[STREET_A])).start()
    b = Stream(live_hub.url, bearer(demo.tokens[STREET_B])).start()
    secret = report(
        db_session,
        clock,
        settings,
        1,
        grid=other_grid(demo),
        device_id="hh-0002",
        lat_e6=31_000_000,
    )
    b.wait("street B's case and its transitions", lambda: b.of("case") and b.of("transition"))
    # a keep-alive of street A's sent after the poller fanned street B's rows out
    after_b = len(a.raw)
    a.wait("a keep-alive with an id", lambda: any(x.startswith("id: ") for x in a.raw[after_b:]))
    quiet = next(x for x in a.raw[after_b:] if x.startswith("id: "))
    assert quiet.endswith("-0-0-0-0"), quiet  # nothing of street B's rows, not even a count
    own = report(db_session, clock, settings, 2)
    a.wait("its own case and transitions", lambda: a.of("case") and a.of("transition"))
    seen = len(a.raw)
    a.wait("a keep-alive after them", lambda: any(x.startswith(": keep") for x in a.raw[seen:]))

    assert [e.data["id"] for e in a.of("case")] == [own.id]
    mine = transition_ids(db_session, own.id)
    theirs = transition_ids(db_session, secret.id)
    assert mine and theirs and {e.data["case_id"] for e in a.of("transition")} == {own.id}
    sent = cursors(a)
    assert sent, "street A was sent no cursor"
    for case, transition, alarm, device in sent:
        assert case in {0, own.id} and transition in {0} | mine, sent
        assert (alarm, device) == (0, 0), sent
    assert sent[-1][:2] == [own.id, max(mine)]  # the keep-alive carries A's own position
    assert not {c[1] for c in sent} & theirs


def test_a_crafted_cursor_replays_nothing_older_than_the_window(
    live_hub: Served,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
) -> None:
    token = demo.tokens[STREET_A]
    real_now = datetime.now(UTC)
    clock.set(real_now - timedelta(minutes=11))
    first = Stream(live_hub.url, bearer(token)).start()
    old = report(db_session, clock, settings, 1)
    first.wait("the old case's transitions", lambda: first.of("transition"))
    first.stop()
    clock.set(real_now)  # the old case is now past the resume window, by the hub's clock
    watcher = Stream(live_hub.url, bearer(token)).start()
    recent = report(db_session, clock, settings, 2, lat_e6=30_300_000)
    watcher.wait("the recent case's transitions", lambda: watcher.of("transition"))

    # a cursor claiming to be fresh, with ids from before the window (or none at all)
    now = int(time.time())
    for crafted in (f"{now}-0-0-0-0", f"{now}-{old.id - 1}-0-0-0"):
        resumed = Stream(live_hub.url, {**bearer(token), "Last-Event-ID": crafted}).start()
        replayed = resumed.wait(
            "the recent case's transitions replayed",
            lambda s=resumed: recent.id in {e.data["case_id"] for e in s.of("transition")},
        )
        assert replayed
        assert [e.data["id"] for e in resumed.of("case")] == [recent.id], crafted
        assert old.id not in {e.data["case_id"] for e in resumed.of("transition")}, crafted
        resumed.stop()


def test_sign_out_ends_the_stream_and_a_session_has_at_most_8(
    live_hub: Served, db_session: Session, clock: FrozenClock, settings: Settings
) -> None:
    passwords.set_password(
        db_session=db_session,
        account=STREET_A,
        password="street A night",
        by="test",
        scope_code=None,
        settings=settings,
        clock=clock,
    )
    db_session.commit()
    with httpx.Client(base_url=live_hub.url) as http:
        res = http.post("/api/session", json={"account": STREET_A, "password": "street A night"})
        assert res.status_code == 201, res.text
        csrf = res.json()["csrf_token"]
        cookies = dict(http.cookies)
        streams = [
            Stream(live_hub.url, {}, cookies).start() for _ in range(MAX_STREAMS_PER_SESSION)
        ]
        assert {s.status for s in streams} == {200}
        extra = http.get("/api/live")
        assert extra.status_code == 429
        assert extra.json() == {
            "code": "too_many_streams",
            "message": "at most 8 live streams per session: close another console tab",
        }
        streams.pop().stop()  # a closed tab frees its place
        streams.append(
            wait_until(
                "a free place",
                lambda: (
                    s if (s := Stream(live_hub.url, {}, cookies).start()).status == 200 else None
                ),
            )
        )

        signed_out = time.monotonic()
        assert http.delete("/api/session", headers={"X-CSRF-Token": csrf}).status_code == 204
        for s in streams:
            assert s.closed.wait(10), "the stream outlived its session"
            assert s.of("end")[-1].data["code"] == "session_ended"
        assert time.monotonic() - signed_out < 8
        assert http.get("/api/live").status_code == 401  # and no new one


def test_signed_out_and_unknown_callers_get_nothing(live_hub: Served) -> None:
    with httpx.Client(base_url=live_hub.url) as http:
        assert http.get("/api/live").status_code == 401
        res = http.get("/api/live", headers=bearer("glt_not-a-token"))
        assert res.status_code == 401 and "glt_" not in res.text


def test_hub_run_stops_promptly_with_a_stream_open(
    tmp_path: Path, settings: Settings, demo: DemoData
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GRIDLINK_ENV": "development",
        "GRIDLINK_DATA_DIR": str(tmp_path),
        "GRIDLINK_DATABASE_URL": settings.database_url,
    }
    hub = subprocess.Popen(
        [sys.executable, "-m", "gridlink.cli", "hub", "run", "--no-ingest", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(url + "/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until("the hub to serve", up, timeout=60)
        stream = Stream(url, bearer(demo.tokens[STREET_A])).start()
        assert stream.status == 200
        stopping = time.monotonic()
        hub.send_signal(signal.SIGTERM)
        assert hub.wait(20) == 0
        assert time.monotonic() - stopping < 10
        assert stream.closed.wait(5)
        assert stream.of("end")[-1].data["code"] == "shutdown"
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait()


def test_a_co_handling_unit_gets_the_events_of_the_cases_it_co_handles(
    live_hub: Served,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
) -> None:
    """Illegal construction is led by the property & sanitation unit with the community office
    beside it (the demo's responsibilities): the office's stream carries that case too; a case
    it neither leads nor co-handles never reaches it."""
    office = Stream(live_hub.url, bearer(demo.tokens["unit-330102001001-office"])).start()
    joint = report(db_session, clock, settings, 1, category="illegal_construction")
    other = report(db_session, clock, settings, 2, category="garbage")  # property's alone
    assert joint.unit_id != demo.units["Qinghefang Community office"]
    parts = parts_of(db_session=db_session, case_id=joint.id)
    assert {p.unit_id for p in parts} == {demo.units["Qinghefang Community office"]}
    office.wait("the co-handled case", lambda: office.of("case") and office.of("transition"))
    assert [e.data["id"] for e in office.of("case")] == [joint.id]
    assert {e.data["case_id"] for e in office.of("transition")} == {joint.id}
    assert other.id not in {e.data.get("id", e.data.get("case_id")) for e in office.events}
