"""Versioned lists: every change a version, snapshots, deltas (put latest / del), the log
floor, list_sync parts within one command, the versions gates report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from hub.access import faces, lists, people
from hub.access.schemas import SchedulePut, VehiclePut
from hub.clock import FrozenClock
from hub.devices.models import Device
from hub.errors import InvalidInputError, NotFoundError
from hub.seed import DemoData
from protocol import canonical
from tests.hub.access.conftest import COMMUNITY, pin_hash, resident


def test_entries_are_the_contract_format(
    db_session: Session, demo: DemoData, clock: FrozenClock
) -> None:
    at = clock.now()
    people.put_schedule(
        db_session=db_session,
        community=COMMUNITY,
        schedule_id="s-day",
        data=SchedulePut.model_validate(
            {"days": [1, 2, 3, 4, 5, 6, 7], "from": "06:00", "to": "23:00"}
        ),
        at=at,
    )
    people.put_person(
        db_session=db_session,
        community=COMMUNITY,
        person_id="p-12",
        data=resident(
            valid_from=1764547200,
            schedule="s-day",
            qr=["q-9f2c0001"],
            pins=[pin_hash("1234")],
            duress=[pin_hash("9999")],
        ),
        at=at,
    )
    consent = faces.record_consent(
        db_session=db_session,
        community=COMMUNITY,
        person_id="p-12",
        purpose="gate entry",
        recorded_by="operator:x",
        at=at,
    )
    template = faces.template_id_for(consent)
    faces.set_template(
        db_session=db_session, community=COMMUNITY, person_id="p-12", template=template, at=at
    )
    people.put_vehicle(
        db_session=db_session,
        community=COMMUNITY,
        plate="浙A12345",
        data=VehiclePut(person="p-12"),
        at=at,
    )
    version, entries = lists.snapshot(db_session=db_session, community=COMMUNITY)
    assert version == 4
    assert entries == [
        {
            "op": "put",
            "t": "schedule",
            "id": "s-day",
            "days": [1, 2, 3, 4, 5, 6, 7],
            "from": "06:00",
            "to": "23:00",
        },
        {
            "op": "put",
            "t": "person",
            "id": "p-12",
            "kind": "resident",
            "from": 1764547200,
            "to": None,
            "doors": ["*"],
            "sched": "s-day",
            "black": False,
            "cards": ["04A1B2C3"],
            "qr": ["q-9f2c0001"],
            "pins": [pin_hash("1234")],
            "duress": [pin_hash("9999")],
            "face": template,
        },
        {
            "op": "put",
            "t": "vehicle",
            "plate": "浙A12345",
            "person": "p-12",
            "from": 0,
            "to": None,
            "doors": ["*"],
            "black": False,
        },
    ]


def test_delta_has_latest_state_and_deletes(
    db_session: Session, demo: DemoData, clock: FrozenClock
) -> None:
    at = clock.now()
    for i in range(5):
        people.put_person(
            db_session=db_session,
            community=COMMUNITY,
            person_id=f"p-{i}",
            data=resident(cards=[f"CA{i:04d}"]),
            at=at,
        )
    base = lists.current_version(db_session=db_session, community=COMMUNITY)
    assert base == 5
    people.put_person(
        db_session=db_session,
        community=COMMUNITY,
        person_id="p-1",
        data=resident(cards=["CB0001"], black=True),
        at=at,
    )
    people.put_person(
        db_session=db_session,
        community=COMMUNITY,
        person_id="p-1",
        data=resident(cards=["CC0001"]),
        at=at,
    )
    people.delete_person(db_session=db_session, community=COMMUNITY, person_id="p-2", at=at)
    people.put_person(
        db_session=db_session,
        community=COMMUNITY,
        person_id="p-9",
        data=resident(cards=["CD0009"]),
        at=at,
    )
    people.delete_person(db_session=db_session, community=COMMUNITY, person_id="p-9", at=at)
    found = lists.delta(db_session=db_session, community=COMMUNITY, base=base)
    assert found is not None
    version, entries = found
    assert version == 10
    assert [(e["op"], e["id"]) for e in entries] == [("put", "p-1"), ("del", "p-2"), ("del", "p-9")]
    assert entries[0]["cards"] == ["CC0001"] and entries[0]["black"] is False
    assert entries[1] == {"op": "del", "t": "person", "id": "p-2"}
    parts = lists.sync_parts(db_session=db_session, community=COMMUNITY, base=base)
    assert [(p["mode"], p["base"], p["version"], p["part"], p["parts"]) for p in parts] == [
        ("delta", 5, 10, 1, 1)
    ]
    assert parts[0]["entries"] == entries
    assert lists.sync_parts(db_session=db_session, community=COMMUNITY, base=10) == []


def test_no_delta_when_the_log_is_gone_so_a_full_snapshot(
    db_session: Session, demo: DemoData, clock: FrozenClock
) -> None:
    at = clock.now()
    for i in range(4):
        people.put_person(
            db_session=db_session,
            community=COMMUNITY,
            person_id=f"p-{i}",
            data=resident(cards=[f"CA{i:04d}"]),
            at=at,
        )
    lists.prune_changes(db_session=db_session, community=COMMUNITY, floor=2)
    assert lists.delta(db_session=db_session, community=COMMUNITY, base=1) is None
    assert lists.delta(db_session=db_session, community=COMMUNITY, base=2) is not None
    assert lists.delta(db_session=db_session, community=COMMUNITY, base=0) is None
    assert lists.delta(db_session=db_session, community=COMMUNITY, base=99) is None  # ahead
    parts = lists.sync_parts(db_session=db_session, community=COMMUNITY, base=1)
    assert [(p["mode"], p["base"], p["version"]) for p in parts] == [("full", 0, 4)]
    assert [e["id"] for e in parts[0]["entries"]] == ["p-0", "p-1", "p-2", "p-3"]
    # An empty community still gets one (empty) full part: it clears the device's list.
    assert lists.sync_parts(db_session=db_session, community="330102001002", base=3) == [
        {"mode": "full", "base": 0, "version": 0, "part": 1, "parts": 1, "entries": []}
    ]


def test_a_delta_of_1000_entries_is_split_into_parts_that_fit_one_command(
    db_session: Session, demo: DemoData, clock: FrozenClock
) -> None:
    at = clock.now()
    people.put_person(
        db_session=db_session, community=COMMUNITY, person_id="p-first", data=resident(), at=at
    )
    base = lists.current_version(db_session=db_session, community=COMMUNITY)
    for i in range(1000):
        people.put_person(
            db_session=db_session,
            community=COMMUNITY,
            person_id=f"p-{i:04d}",
            data=resident(cards=[f"C{i:07X}"], qr=[f"qr-token-{i:08d}"], pins=[pin_hash(str(i))]),
            at=at,
        )
    parts = lists.sync_parts(db_session=db_session, community=COMMUNITY, base=base)
    assert len(parts) > 1
    assert all(len(canonical.dumps(p)) <= lists.MAX_PART_BYTES for p in parts)
    assert [p["part"] for p in parts] == list(range(1, len(parts) + 1))
    assert {p["parts"] for p in parts} == {len(parts)}
    assert {(p["mode"], p["base"], p["version"]) for p in parts} == {("delta", base, base + 1000)}
    ids = [e["id"] for p in parts for e in p["entries"]]
    assert ids == [f"p-{i:04d}" for i in range(1000)]
    # Greedy packing: each part but the last could not take the next part's first entry.
    for this, nxt in zip(parts, parts[1:], strict=False):
        grown = {**this, "entries": [*this["entries"], nxt["entries"][0]]}
        assert len(canonical.dumps(grown)) > lists.MAX_PART_BYTES


def test_an_entry_too_big_for_one_command_is_refused(
    db_session: Session, demo: DemoData, clock: FrozenClock
) -> None:
    lists.split_parts(mode="full", base=0, version=1, items=[{"t": "person", "id": "ok"}])
    with pytest.raises(InvalidInputError, match="over"):
        lists.split_parts(
            mode="full", base=0, version=1, items=[{"t": "person", "id": "x" * 20000}]
        )


def test_note_list_version(
    db_session: Session, gates: dict[str, Device], clock: FrozenClock
) -> None:
    at = clock.now()
    lists.note_list_version(db_session=db_session, device_id="face-01", version=7, at=at)
    lists.note_list_version(
        db_session=db_session, device_id="face-01", version=9, at=at + timedelta(seconds=5)
    )
    late = lists.note_list_version(db_session=db_session, device_id="face-01", version=3, at=at)
    assert late.version == 9  # an older report arriving late changes nothing
    with pytest.raises(NotFoundError):
        lists.note_list_version(db_session=db_session, device_id="nope", version=1, at=at)
    with pytest.raises(InvalidInputError):
        lists.note_list_version(db_session=db_session, device_id="face-01", version=-1, at=at)
    reported = {
        d.id: v for d, v in lists.device_versions(db_session=db_session, community=COMMUNITY)
    }
    assert reported == {"acc-01": None, "bar-01": None, "face-01": 9}
