"""The live feed carries no base data: a worker's collection and visit, ingested between two
reports, never reach a stream (only the reports' cases do), whoever listens."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from hub.ingest.processor import Processor
from hub.mqtt_messages import Inbound
from hub.seed import DemoData
from tests.builders.devices import TestDevice
from tests.hub.builders import GRID, GRID_LAT, GRID_LON
from tests.hub.live.conftest import Served, Stream, bearer

MAN = "330102198503120014"


def test_collections_and_visits_never_reach_the_live_feed(
    live_hub: Served,
    demo: DemoData,
    db_session: Session,
    processor: Processor,
    device_factory: Callable[..., TestDevice],
) -> None:
    streams = [
        Stream(live_hub.url, bearer(demo.tokens[label])).start()
        for label in ("community-330102001001-operator", "district-operator")
    ]
    dev = device_factory("hh-live-field")
    dev.register(db_session, GRID)
    db_session.commit()
    head = {"grid": GRID, "worker": "w00100101"}
    loc = {"lat_e6": GRID_LAT, "lon_e6": GRID_LON, "acc_m": 5}
    report = {**head, "category": "garbage", "text": "垃圾堆放", "loc": loc}
    record = {"id_number": MAN, "name": "张伟", "gender": "1", "phone": "13800138000"}
    msgs = [
        dev.event("signin", {**head, "ok": True}),
        dev.event("report", report),
        dev.event("collect", {**head, "form": "resident", "record": record}),
        dev.event("visit", {**head, "place": {"kind": "place", "ref": "清河坊街88号"},
                            "purpose": "care", "outcome": "met", "text": "张伟家", "loc": loc}),
        dev.event("report", {**report, "text": "第二处垃圾"}),
    ]  # fmt: skip
    processor.process([Inbound(t, p) for t, p in msgs])
    for stream in streams:
        cases = stream.wait("both reports' cases", lambda s=stream: len(s.of("case")) == 2 or None)
        assert cases
        text = "\n".join(stream.raw)
        assert MAN not in text and "张伟" not in text and "13800138000" not in text
        assert {e.type for e in stream.events} <= {"case", "transition"}
