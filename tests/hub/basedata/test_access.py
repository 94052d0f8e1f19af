"""Graded access (分级准入) on every path personal data leaves the hub: an operator without the
identity grant never gets a resident's ID number (base-data list, detail, search, house detail,
export, events API), every successful read leaves an access-audit row, and the grant, once
given explicitly, shows the number only with a stated purpose."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from hub.clock import FrozenClock
from tests.hub.basedata.conftest import HOUSE, MAN, WOMAN, Field

COMMUNITY_OP = "community-330102001001-operator"
STREET_OP = "street-330102001-operator"
OTHER_STREET_OP = "street-330102002-operator"
BIRTH = "1985-03-12"


def _every_read(field: Field, label: str, purpose: str | None = None) -> list[tuple[str, str]]:
    """(path, body text) of every endpoint that returns the resident or its collection."""
    headers = field.token(label)
    p = {"purpose": purpose} if purpose else {}
    man = field.client.get("/api/basedata/residents", headers=headers, params={"q": "张"})
    assert man.status_code == 200, man.text
    man_id = next(r["id"] for r in man.json() if r["name"] == "张伟")
    paths = [
        ("/api/basedata/residents", p),
        ("/api/basedata/residents", {**p, "q": "伟"}),
        (f"/api/basedata/residents/{man_id}", p),
        (f"/api/basedata/houses/{HOUSE}", p),
        ("/api/basedata/residents/export.csv", {"reason": purpose or "季度人口核查"}),
        ("/api/events", {**p, "kind": "collect"}),
        ("/api/events", p),
    ]
    out = []
    for path, params in paths:
        r = field.client.get(path, headers=headers, params=params)
        assert r.status_code == 200, (path, r.text)
        out.append((path, r.text))
    events = field.client.get("/api/events", headers=headers, params={"kind": "collect"}).json()
    for e in events:
        r = field.client.get(f"/api/events/{e['id']}", headers=headers, params=p)
        assert r.status_code == 200, r.text
        out.append((f"/api/events/{e['id']}", r.text))
    return out


def test_an_operator_without_the_grade_never_gets_an_id_number(field: Field) -> None:
    field.household()
    for label in (COMMUNITY_OP, STREET_OP, "district-operator", "district-admin"):
        texts = _every_read(field, label, purpose="核实户籍信息")
        assert len(texts) == 7 + 3  # 3 collect events read one by one
        for path, text in texts:
            assert MAN not in text and WOMAN not in text, (label, path)
            assert BIRTH not in text, (label, path)
    # the bootstrap admin token holds no grant either
    texts = _every_read(field, "district-admin")
    assert all(MAN not in t for _, t in texts)


def test_what_each_level_sees(field: Field) -> None:
    field.household()
    community = field.get("/api/basedata/residents", COMMUNITY_OP, q="张伟")[0]
    assert (community["name"], community["house_code"], community["gender"]) == ("张伟", HOUSE, "1")
    assert community["phone"] == "13800138000"  # the community calls its residents
    assert community["id_number"] is None and community["birth_date"] is None
    assert community["withheld"] == ["id_number", "birth_date"]
    street = field.get("/api/basedata/residents", STREET_OP, q="张伟")[0]
    assert street["name"] == "张伟" and street["phone"] is None
    assert street["withheld"] == ["phone", "id_number", "birth_date"]
    event = next(
        e
        for e in field.get("/api/events", STREET_OP, kind="collect")
        if e["body"]["form"] == "resident" and e["body"]["record"]["name"] == "张伟"
    )
    assert event["body"]["record"] == {
        "name": "张伟",
        "gender": "1",
        "ethnicity": "01",
        "relation": "02",
        "house_code": HOUSE,
    }
    assert event["body"]["withheld"] == ["id_number", "phone"]
    me = field.get("/api/privacy/me", STREET_OP)
    assert me["withheld"]["resident"] == ["phone", "id_number", "birth_date"]


def test_searching_by_id_number_or_phone_needs_the_grade(field: Field) -> None:
    field.household()
    before = len(field.audits())
    r = field.client.get(
        "/api/basedata/residents",
        headers=field.token(COMMUNITY_OP),
        params={"id_number": MAN, "purpose": "核实身份"},
    )
    assert r.status_code == 403 and r.json()["code"] == "grade_required", r.text
    r = field.client.get(
        "/api/basedata/residents", headers=field.token(STREET_OP), params={"phone": "13800138000"}
    )
    assert r.status_code == 403
    # the community sees phones, so it may search by one
    assert [
        x["name"] for x in field.get("/api/basedata/residents", COMMUNITY_OP, phone="13800138000")
    ] == ["张伟"]
    # each refused search leaves a "denied" row (never the number), the allowed one its read
    after = field.audits()  # newest first
    rows = after[: len(after) - before]
    assert sorted(a["action"] for a in rows) == ["denied", "denied", "search"]
    assert MAN not in str(rows) and "13800138000" not in str(rows)


def test_the_identity_grant_is_explicit_and_needs_a_purpose_per_read(field: Field) -> None:
    field.household()
    street_id = field.token_id(STREET_OP)
    admin = field.token("district-admin")
    # an admin cannot grant itself, a unit cannot hold a grant, the reason is required
    self_id = field.token_id("district-admin")
    r = field.client.put(
        f"/api/privacy/grants/{self_id}",
        headers=admin,
        json={"identity": True, "reason": "自己授权"},
    )
    assert r.status_code == 403, r.text
    unit_id = field.token_id("unit-330102001001-office")
    r = field.client.put(
        f"/api/privacy/grants/{unit_id}",
        headers=admin,
        json={"identity": True, "reason": "处置需要"},
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_input", r.text
    r = field.client.put(f"/api/privacy/grants/{street_id}", headers=admin, json={"identity": True})
    assert r.status_code == 422 and "reason" in r.text
    r = field.client.put(
        f"/api/privacy/grants/{street_id}",
        headers=admin,
        json={"identity": True, "reason": "街道综治中心人口核查"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["granted_by"] == "admin:district-admin"

    without = field.get("/api/basedata/residents", STREET_OP, q="张伟")[0]
    assert without["id_number"] is None  # a grant alone shows nothing more
    with_purpose = field.get("/api/basedata/residents", STREET_OP, q="张伟", purpose="核实户籍")[0]
    assert (with_purpose["id_number"], with_purpose["birth_date"]) == (MAN, BIRTH)
    assert with_purpose["phone"] == "13800138000" and with_purpose["withheld"] == []
    found = field.get("/api/basedata/residents", STREET_OP, id_number=MAN, purpose="核实身份")
    assert [x["name"] for x in found] == ["张伟"]
    ev = field.get("/api/events", STREET_OP, kind="collect", purpose="核实采集原始记录")
    assert any(e["body"]["record"].get("id_number") == MAN for e in ev)

    row = field.audits(actor=f"operator:{STREET_OP}", kind="resident")[1]
    assert row["purpose"] == "核实户籍" and row["fields"] == ["birth_date", "id_number", "phone"]
    assert row["withheld"] == []
    grant_rows = field.audits(kind="grant")
    assert grant_rows[0]["record_ids"] == [street_id] and grant_rows[0]["fields"] == ["identity"]

    # withdrawn: back to the role's default at once
    r = field.client.post(
        f"/api/privacy/grants/{street_id}/withdraw", headers=admin, json={"reason": "核查结束"}
    )
    assert r.status_code == 204, r.text
    again = field.get("/api/basedata/residents", STREET_OP, q="张伟", purpose="核实户籍")[0]
    assert again["id_number"] is None


def test_every_successful_read_leaves_an_audit_row(field: Field) -> None:
    field.household()
    before = len(field.audits(limit=1000))
    texts = _every_read(field, STREET_OP, purpose="网格走访准备")
    rows = field.audits(actor=f"operator:{STREET_OP}", limit=1000)
    # each read it returned, plus its two lookups (the man's id, the collect events' ids),
    # plus one: a house detail writes a house row and a resident row (no visits yet)
    assert len(rows) == len(texts) + 2 + 1
    assert len(field.audits(limit=1000)) == before + len(rows)
    export = next(r for r in rows if r["action"] == "export")
    assert export["purpose"] == "网格走访准备" and export["count"] == 2
    assert export["withheld"] == ["birth_date", "id_number", "phone"]
    man_id = field.get("/api/basedata/residents", COMMUNITY_OP, q="张伟")[0]["id"]
    reads_of_man = field.audits(kind="resident", record_id=man_id, limit=1000)
    assert {r["actor"] for r in reads_of_man} == {
        f"operator:{STREET_OP}",
        f"operator:{COMMUNITY_OP}",
    }
    event_rows = [r for r in rows if r["kind"] == "event"]
    # the lists and the residents' events withheld fields; the house's event had none to hide
    assert sorted(len(r["withheld"]) > 0 for r in event_rows) == [
        False,
        True,
        True,
        True,
        True,
        True,
    ]


def test_the_audit_is_for_admins_and_auditors(field: Field) -> None:
    field.household()
    r = field.client.get("/api/privacy/audits", headers=field.token(STREET_OP))
    assert r.status_code == 403
    street_id = field.token_id(STREET_OP)
    r = field.client.put(
        f"/api/privacy/grants/{street_id}",
        headers=field.root,
        json={"auditor": True, "reason": "街道数据安全审计"},
    )
    assert r.status_code == 200, r.text
    field.get("/api/basedata/residents", COMMUNITY_OP)
    field.get("/api/basedata/residents", OTHER_STREET_OP)
    rows = field.get("/api/privacy/audits", STREET_OP)
    # a street's auditor sees the reads of readers inside its street only
    assert {r["actor"] for r in rows} == {f"operator:{COMMUNITY_OP}"}
    assert field.get("/api/privacy/audits", STREET_OP, action="export") == []


def test_export_needs_a_reason_and_leaves_out_withheld_columns(field: Field) -> None:
    field.household()
    r = field.client.get("/api/basedata/residents/export.csv", headers=field.token(COMMUNITY_OP))
    assert r.status_code == 422 and "reason" in r.text
    r = field.client.get(
        "/api/basedata/residents/export.csv",
        headers=field.token(COMMUNITY_OP),
        params={"reason": "  "},
    )
    assert r.status_code == 422
    r = field.client.get(
        "/api/basedata/residents/export.csv",
        headers=field.token(COMMUNITY_OP),
        params={"reason": "社区季度走访名单"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows: list[dict[str, Any]] = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert [x["name"] for x in rows] == ["张伟", "李娜"]
    assert "id_number" not in rows[0] and "birth_date" not in rows[0]
    assert rows[0]["phone"] == "13800138000"
    assert field.audits(action="export")[0]["purpose"] == "社区季度走访名单"


def test_scope_units_and_other_areas(field: Field) -> None:
    field.household()
    man_id = field.get("/api/basedata/residents", COMMUNITY_OP, q="张伟")[0]["id"]
    assert field.get("/api/basedata/residents", OTHER_STREET_OP) == []
    r = field.client.get(f"/api/basedata/residents/{man_id}", headers=field.token(OTHER_STREET_OP))
    assert r.status_code == 404
    r = field.client.get(f"/api/basedata/houses/{HOUSE}", headers=field.token(OTHER_STREET_OP))
    assert r.status_code == 404
    assert field.get("/api/events", OTHER_STREET_OP, kind="collect") == []
    unit = field.token("unit-330102001001-office")
    for path in (
        "/api/basedata/residents",
        f"/api/basedata/residents/{man_id}",
        "/api/basedata/residents/export.csv?reason=处置案件需要",
        "/api/events",
        "/api/basedata/visits",
        f"/api/basedata/houses/{HOUSE}",
    ):
        r = field.client.get(path, headers=unit)
        assert r.status_code == 403, (path, r.text)
        assert MAN not in r.text


def test_a_grant_ends_at_its_expiry(field: Field, clock: FrozenClock) -> None:
    field.household()
    street_id = field.token_id(STREET_OP)
    until = (clock.now() + timedelta(days=7)).isoformat()
    r = field.client.put(
        f"/api/privacy/grants/{street_id}",
        headers=field.root,
        json={"identity": True, "reason": "专项核查一周", "expires_at": until},
    )
    assert r.status_code == 200, r.text
    past = (clock.now() - timedelta(days=1)).isoformat()
    r = field.client.put(
        f"/api/privacy/grants/{street_id}",
        headers=field.root,
        json={"identity": True, "reason": "过期授权", "expires_at": past},
    )
    assert r.status_code == 422 and "expires_at" in r.text
    shown = field.get("/api/basedata/residents", STREET_OP, q="张伟", purpose="专项核查")[0]
    assert shown["id_number"] == MAN
    clock.advance(timedelta(days=7, seconds=1))
    hidden = field.get("/api/basedata/residents", STREET_OP, q="张伟", purpose="专项核查")[0]
    assert hidden["id_number"] is None and "id_number" in hidden["withheld"]
    assert field.get("/api/privacy/me", STREET_OP)["identity_grant"] is False
