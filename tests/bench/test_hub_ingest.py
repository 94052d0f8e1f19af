"""bench/hub_ingest.py's judgement of a run through the broker: lost and duplicated events from
the row counts, and each PostgreSQL row's ratio to the 1-worker one (no timing here)."""

from __future__ import annotations

from bench.hub_ingest import PG, exactly_once, ratios


def test_a_run_that_stored_every_event_once_has_nothing_lost_or_twice() -> None:
    assert exactly_once(rows=9000, distinct=9000, sent=9000) == (0, 0)


def test_missing_and_repeated_events_are_told_apart() -> None:
    assert exactly_once(rows=9001, distinct=8990, sent=9000) == (10, 11)


def test_ratios_are_to_the_one_worker_postgresql_row_only() -> None:
    measured = [
        ("through Mosquitto, 1 worker(s), QoS 1", 5000.0, ""),
        (f"{PG}, 1 worker(s), QoS 1", 4000.0, ""),
        (f"{PG}, 2 worker(s), QoS 1", 3000.0, ""),
        (f"{PG}, 4 worker(s), QoS 1", None, "skipped: no server"),
    ]
    assert ratios(measured) == {f"{PG}, 1 worker(s), QoS 1": 1.0, f"{PG}, 2 worker(s), QoS 1": 0.75}
    assert ratios(measured[:1]) == {}
