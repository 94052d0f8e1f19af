"""The liaisons and the notification log over HTTP: who may manage and read them, the secret
shown once, clear refusals, a test notice, a manual retry."""

from __future__ import annotations

from fastapi.testclient import TestClient
from httpx import Response

from hub.seed import DemoData
from hub.settings import Settings

UNIT = "Qinghefang Community property & sanitation"  # in street 330102001
OTHER_UNIT = "Xihu Community office"  # in street 330102002


def _as(demo: DemoData, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[token]}"}


def _add(client: TestClient, demo: DemoData, token: str, unit: str, **body: object) -> Response:
    payload = {"name": "王联络", "channel": "webhook", "address": "https://unit.example.org/hook",
               **body}  # fmt: skip
    answer: Response = client.post(f"/api/units/{demo.units[unit]}/liaisons",
                                   headers=_as(demo, token), json=payload)  # fmt: skip
    return answer


def test_an_operator_adds_a_liaison_and_sees_its_secret_once(
    client: TestClient, demo: DemoData
) -> None:
    made = _add(client, demo, "street-330102001-operator", UNIT, kinds=["one_key_report"])
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["secret"].startswith("whsec_") and body["kinds"] == ["one_key_report"]
    listed = client.get(f"/api/units/{demo.units[UNIT]}/liaisons",
                        headers=_as(demo, "district-operator")).json()  # fmt: skip
    assert [r["id"] for r in listed] == [body["id"]]
    assert "secret" not in listed[0]
    rotated = client.post(f"/api/liaisons/{body['id']}/secret",
                          headers=_as(demo, "district-admin")).json()  # fmt: skip
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != body["secret"]


def test_a_unit_outside_the_area_is_not_found_and_a_unit_account_only_reads_its_own(
    client: TestClient, demo: DemoData
) -> None:
    assert _add(client, demo, "street-330102001-operator", OTHER_UNIT).status_code == 404
    made = _add(client, demo, "district-operator", OTHER_UNIT).json()
    other = _as(demo, "street-330102001-operator")
    for method, path in (("get", f"/api/units/{demo.units[OTHER_UNIT]}/liaisons"),
                         ("patch", f"/api/liaisons/{made['id']}"),
                         ("delete", f"/api/liaisons/{made['id']}"),
                         ("post", f"/api/liaisons/{made['id']}/test")):  # fmt: skip
        kwargs = {"json": {"active": False}} if method == "patch" else {}
        assert getattr(client, method)(path, headers=other, **kwargs).status_code == 404, path
    office = _as(demo, "unit-330102001001-office")
    own = demo.units["Qinghefang Community office"]
    assert client.get(f"/api/units/{own}/liaisons", headers=office).status_code == 200
    assert _add(client, demo, "unit-330102001001-office", "Qinghefang Community office"
                ).status_code == 403  # fmt: skip
    assert client.get(f"/api/units/{demo.units[UNIT]}/liaisons", headers=office).status_code == 404


def test_bad_addresses_are_one_clear_error(
    client: TestClient, demo: DemoData, settings: Settings
) -> None:
    op = "district-operator"
    for address in ("ftp://unit.example.org/x", "not a url", "https://u:p@unit.example.org/"):
        answer = _add(client, demo, op, UNIT, address=address)
        assert answer.status_code == 422, answer.text
        assert "webhook" in answer.json()["message"]
    mail = _add(client, demo, op, UNIT, channel="email", address="wang@unit.example.org")
    assert mail.status_code == 409 and "GRIDLINK_SMTP_HOST" in mail.json()["message"]
    assert not settings.smtp_host
    assert _add(client, demo, op, UNIT, channel="email", address="wang").status_code == 422
    assert _add(client, demo, op, UNIT, kinds=["everything"]).status_code == 422
    assert _add(client, demo, op, UNIT, channel="sms").status_code == 422


def test_a_test_notice_is_logged_and_a_pending_delivery_cannot_be_retried(
    client: TestClient, demo: DemoData
) -> None:
    made = _add(client, demo, "district-operator", UNIT).json()
    sent = client.post(f"/api/liaisons/{made['id']}/test", headers=_as(demo, "district-admin"))
    assert sent.status_code == 202, sent.text
    note = sent.json()
    assert note["kind"] == "test" and [d["status"] for d in note["deliveries"]] == ["pending"]
    page = client.get("/api/notifications", headers=_as(demo, "street-330102001-operator"),
                      params={"kind": "test"}).json()  # fmt: skip
    assert page["total"] == 1 and page["items"][0]["id"] == note["id"]
    hidden = client.get("/api/notifications", headers=_as(demo, "street-330102002-operator"))
    assert hidden.json()["total"] == 0
    one = client.get(f"/api/notifications/{note['id']}", headers=_as(demo, "district-admin"))
    assert "测试通知" in one.json()["body"] and one.json()["deliveries"][0]["log"] == []
    delivery = note["deliveries"][0]["id"]
    retry = client.post(f"/api/notifications/deliveries/{delivery}/retry",
                        headers=_as(demo, "district-operator"))  # fmt: skip
    assert retry.status_code == 409 and "pending" in retry.json()["message"]
    other = _as(demo, "street-330102002-operator")
    assert client.get(f"/api/notifications/{note['id']}", headers=other).status_code == 404
