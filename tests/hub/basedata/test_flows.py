"""Verified ``collect`` / ``visit`` events become base data: updates by key (never a
duplicate), refusals with the field and reason (the event stays stored), visits linked to
their house."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hub.basedata import forms
from hub.basedata.models import House, Refusal, Resident, Visit
from hub.events.models import Event
from tests.hub.basedata.conftest import CREDIT, HOUSE, MAN, OTHER_GRID, WOMAN, WORKER, Field


def test_the_id_number_check_digit_follows_gb_11643() -> None:
    assert forms.id_number_error("11010519491231002X") is None  # the standard's own example
    assert forms.id_number_error("110105194912310021") == "the ID number's check digit is wrong"
    assert forms.id_number_error(MAN) is None and forms.id_number_error(WOMAN) is None
    assert forms.id_number_error("330102198502300011") is not None  # 30 February
    assert forms.credit_code_error(CREDIT) is None
    assert forms.credit_code_error("91330102MA2B3C4D5A") is not None


def test_collections_make_one_record_per_person_and_update_it(field: Field) -> None:
    field.household()
    with field.processor.session_factory() as s:
        house = s.scalars(select(House)).one()
        assert (house.house_code, house.grid_code, house.use) == (
            HOUSE,
            "33010200100101",
            "residential",
        )
        man = s.scalars(select(Resident).where(Resident.id_number == MAN)).one()
        assert (man.name, man.gender, man.house_code, man.revision) == ("张伟", "1", HOUSE, 1)
        assert man.birth_date.isoformat() == "1985-03-12"  # from the ID number
        assert man.collected_by == WORKER
    # the same man collected again, with a new phone, lower-case x never mind: an update
    field.collect(
        "resident",
        {
            "id_number": MAN,
            "name": "张伟",
            "gender": "1",
            "phone": "13900139000",
            "house_code": HOUSE,
        },
    )
    with field.processor.session_factory() as s:
        rows = s.scalars(select(Resident).where(Resident.id_number == MAN)).all()
        assert len(rows) == 1
        assert (rows[0].phone, rows[0].revision, rows[0].ethnicity) == ("13900139000", 2, None)
        assert s.scalar(select(func.count()).select_from(Resident)) == 2
        assert s.scalar(select(func.count()).select_from(Refusal)) == 0


@pytest.mark.parametrize(
    ("form", "record", "field_name"),
    [
        (
            "resident",
            {"id_number": "330102198503120015", "name": "王五", "gender": "1"},
            "id_number",
        ),
        ("resident", {"id_number": MAN, "name": "王五", "gender": "2"}, "gender"),
        (
            "resident",
            {"id_number": MAN, "name": "王五", "gender": "1", "birth_date": "1985-03-13"},
            "birth_date",
        ),
        (
            "resident",
            {"id_number": MAN, "name": "王五", "gender": "1", "religion": "x"},
            "religion",
        ),
        ("resident", {"id_number": MAN, "name": "王五", "gender": "1", "phone": "12345"}, "phone"),
        ("resident", {"id_number": MAN, "name": "", "gender": "1"}, "name"),
        (
            "resident",
            {"id_number": MAN, "name": "王五", "gender": "1", "house_code": "NOPE-0001"},
            "house_code",
        ),
        (
            "organisation",
            {
                "credit_code": "91330102MA2B3C4D5A",
                "name": "x",
                "kind": "enterprise",
                "address": "y",
            },
            "credit_code",
        ),
        ("house", {"house_code": HOUSE, "address": "a", "use": "castle"}, "use"),
        ("pet", {"name": "x"}, "form"),
        ("resident", ["not", "an", "object"], "record"),
    ],
)
def test_a_bad_record_is_refused_with_its_field_and_the_event_kept(
    field: Field, form: str, record: object, field_name: str
) -> None:
    field.collect(form, record)  # type: ignore[arg-type]
    with field.processor.session_factory() as s:
        refusal = s.scalars(select(Refusal)).one()
        assert (refusal.kind, refusal.field) == ("collect", field_name), refusal.reason
        assert s.scalar(select(func.count()).select_from(Resident)) == 0
        event = s.scalars(select(Event).where(Event.kind == "collect")).one()  # nothing lost
        assert refusal.event_id == event.id and event.body["record"] == record
        # the reason never repeats the value (a refused ID number stays out of the table)
        assert "330102198503120015" not in refusal.reason
    counts = field.get("/api/basedata/refusals/counts", "district-operator")
    assert counts == [
        {
            "kind": "collect",
            "form": form if form != "pet" else "pet",
            "field": field_name,
            "count": 1,
        }
    ]


def test_a_collection_in_another_grid_or_without_worker_is_refused(field: Field) -> None:
    field.collect(
        "house", {"house_code": HOUSE, "address": "a", "use": "residential"}, grid=OTHER_GRID
    )
    field.collect("house", {"house_code": HOUSE, "address": "a", "use": "residential"}, worker=None)
    rows = field.get("/api/basedata/refusals", "district-operator")
    assert sorted(r["field"] for r in rows) == ["grid", "worker"]
    assert field.get("/api/basedata/houses", "district-operator") == []


def test_a_replayed_older_collection_does_not_overwrite_a_newer_one(field: Field) -> None:
    field.household()
    older = int((field.processor.clock.now() - timedelta(hours=2)).timestamp())
    field.collect("resident", {"id_number": MAN, "name": "张小伟", "gender": "1"}, ts=older)
    with field.processor.session_factory() as s:
        man = s.scalars(select(Resident).where(Resident.id_number == MAN)).one()
        assert (man.name, man.revision, man.phone) == ("张伟", 1, "13800138000")
        assert s.scalars(select(Refusal.field)).all() == ["ts"]


def test_visits_link_to_their_house_and_bad_ones_are_refused(field: Field) -> None:
    field.household()
    field.visit("household", HOUSE)
    field.visit("place", "清河坊街88号 茶馆", purpose="safety", outcome="done", loc=None)
    field.visit("castle", "x")
    field.visit("household", HOUSE, purpose="")
    field.visit("place", "x", loc={"lat_e6": "north"})
    with field.processor.session_factory() as s:
        visits = s.scalars(select(Visit).order_by(Visit.id)).all()
        assert [(v.place_kind, v.house_code, v.worker) for v in visits] == [
            ("household", HOUSE, WORKER),
            ("place", None, WORKER),
        ]
        assert (visits[0].lat_e6, visits[1].lat_e6, visits[1].purpose) == (30251000, None, "safety")
        fields = s.scalars(select(Refusal.field).order_by(Refusal.id)).all()
        assert fields == ["place.kind", "purpose", "loc"]
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "visit")) == 5
    house = field.get(f"/api/basedata/houses/{HOUSE}", "community-330102001001-operator")
    assert [v["purpose"] for v in house["visits"]] == ["follow_up"]
