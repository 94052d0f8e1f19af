"""Issue 15's must-show: a one-key report (一键上报) from a MicroPython handheld reaches the
responsible unit's liaison, by a signed webhook and by e-mail, within 2 s of its arrival at the
hub, and then goes through the whole loop like any report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from simulator import Fleet, scenarios
from tests.support.hub import Hub, hub_settings, running_hub
from tests.support.mosquitto import Mosquitto
from tests.support.receivers import Mailbox, WebhookReceiver
from tests.support.waiting import wait_until

GRID = "33010200100101"
WORKER = "w00100101"
UNIT = "Qinghefang Community property & sanitation"
MUST_SHOW_S = 2.0


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with Mailbox() as box:
        yield box


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def hub(tmp_path: Path, broker: Mosquitto, mailbox: Mailbox) -> Iterator[Hub]:
    with running_hub(hub_settings(tmp_path, broker, **mailbox.settings())) as h:
        yield h


def _case(hub: Hub, case_id: int) -> dict[str, Any]:
    return hub.get(f"/api/cases/{case_id}")


def test_a_one_key_report_reaches_the_liaison_within_2_s_and_closes_the_loop(
    hub: Hub, fleet: Fleet, webhook: WebhookReceiver, mailbox: Mailbox
) -> None:
    unit_id = hub.demo.units[UNIT]
    made = hub.api.post(
        f"/api/units/{unit_id}/liaisons",
        json={"name": "王联络", "channel": "webhook", "address": webhook.url},
    )
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    mail = hub.api.post(
        f"/api/units/{unit_id}/liaisons",
        json={"name": "王联络", "channel": "email", "address": "wang@sanitation.example.org"},
    )
    assert mail.status_code == 201, mail.text  # fmt: skip

    lat, lon = hub.grid_centre(GRID)
    script = [
        {"at": 0, "do": "signin", "worker": WORKER, "pin": "1234"},
        {
            "at": 0.5,
            "do": "one_key",
            "category": "garbage",
            "photos": 1,
            "photo_bytes": 40_000,
            "text": "小区东门垃圾着火，请立即处置",
        },  # fmt: skip
        {"at": 600, "do": "end"},
    ]
    dev = fleet.add_handheld(
        "hh-onekey",
        GRID,
        route=[[lat + 100, lon], [lat + 150, lon + 50]],
        scenario=script,
        answers={"verify": "confirm"},
        workers={WORKER: scenarios.pin_record("1234")},
    )
    hub.register(dev)
    dev.start()

    report = wait_until("the one-key report stored", lambda: hub.events(dev.device_id, "report"),
                        timeout=90)[0]  # fmt: skip
    assert report["body"]["one_key"] is True
    arrived = datetime.fromisoformat(report["received_at"]).timestamp()
    hooked = wait_until("the liaison's webhook", lambda: webhook.requests, timeout=30)[0]
    mailed = wait_until("the liaison's e-mail", lambda: mailbox.messages, timeout=30)[0]
    print(
        f"one-key report -> webhook {hooked.at - arrived:.3f} s, e-mail {mailed.at - arrived:.3f} s"
    )
    assert hooked.at - arrived <= MUST_SHOW_S, f"webhook {hooked.at - arrived:.2f} s after"
    assert mailed.at - arrived <= MUST_SHOW_S, f"e-mail {mailed.at - arrived:.2f} s after"

    payload = Webhook(secret).verify(hooked.body, hooked.headers)
    assert payload["type"] == "case.one_key_report"
    case_id = payload["data"]["case"]["id"]
    assert payload["data"]["case"]["text"] == "小区东门垃圾着火，请立即处置"
    assert payload["data"]["unit"] == {"id": unit_id, "name": UNIT}
    assert mailed.rcpt_tos == ["wang@sanitation.example.org"]
    assert (
        "一键上报" in mailed.message["Subject"] and f"案件 {case_id}" in mailed.message["Subject"]
    )
    assert f"案件编号：{case_id}" in mailed.message.get_content()

    case = _case(hub, case_id)
    assert case["one_key"] is True and case["status"] == "dispatched" and case["unit_id"] == unit_id
    assert [
        (n["kind"], sorted(d["status"] for d in n["deliveries"])) for n in case["notifications"]
    ] == [("one_key_report", ["delivered", "delivered"])]

    # the rest of the loop: handle, feedback, the on-site verification by the handheld, rate
    assert hub.api.post(f"/api/cases/{case_id}/accept", json={}).status_code == 200
    answer = hub.api.post(f"/api/cases/{case_id}/feedback", json={"text": "已扑灭并清运"})
    assert answer.status_code == 200, answer.text
    wait_until("the on-site verification to close the case",
               lambda: _case(hub, case_id)["status"] == "closed", timeout=120)  # fmt: skip
    answer = hub.api.post(f"/api/cases/{case_id}/rate", json={"score": 5})
    assert answer.status_code == 200, answer.text
    steps = [t["action"] for t in _case(hub, case_id)["timeline"]]
    for step in ("collect", "file", "dispatch", "accept", "feedback", "request_verification",
                 "close", "rate"):  # fmt: skip
        assert step in steps, steps
    assert len(webhook.requests) == 1  # one notice: the one-key report was its dispatch
