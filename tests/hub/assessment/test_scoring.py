"""The score formula, the periods in local time and the settings that refuse a bad formula."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from gridlink.errors import describe
from hub.assessment.periods import parse, week, week_of
from hub.assessment.schemas import WorkerFigures
from hub.assessment.scoring import score
from hub.assessment.stars import stars_for
from hub.errors import InvalidInputError
from hub.settings import Settings


def _settings(**kw: object) -> Settings:
    return Settings(env="development", **kw)  # type: ignore[arg-type]


def test_score_by_hand() -> None:
    settings = _settings()
    month = parse("2026-03", settings)
    fig = WorkerFigures(
        worker_id="w",
        name="W",
        valid_reports=10,
        visits=40,
        collections=60,
        verifications=4,
        verifications_on_time=3,
        online_s=80 * 3600,
        unqualified=2,
        rated=2,
        satisfaction=4.5,
    )
    got = score(fig, month, settings)
    # results: (10/20, 40/40 -> 1, 60/30 -> 1, 3/4) / 4; conduct: 80 h of 160, less 2 x 10
    assert got.results == round(100 * (0.5 + 1 + 1 + 0.75) / 4, 2) == 81.25
    assert got.conduct == 30.0
    assert got.satisfaction == 87.5
    assert got.score == round(0.5 * 81.25 + 0.3 * 30 + 0.2 * 87.5, 2)

    # no rating: its weight goes to the other two; no verification task: not held against
    idle = WorkerFigures(worker_id="w", name="W", valid_reports=20, online_s=0, unqualified=3)
    got = score(idle, month, settings)
    assert (got.results, got.conduct, got.satisfaction) == (round(100 / 3, 2), 0.0, None)
    assert got.score == round((0.5 * 100 / 3) / 0.8, 2)

    # a quarter expects three months of work; weights are the operator's
    quarter = parse("2026-Q1", settings)
    heavy = _settings(assessment_weights={"results": 1, "conduct": 0, "satisfaction": 0})
    got = score(
        WorkerFigures(worker_id="w", name="W", valid_reports=60, visits=120, collections=90),
        quarter,
        heavy,
    )
    assert (got.results, got.score) == (100.0, 100.0)


def test_periods_are_local_time() -> None:
    settings = _settings()  # UTC+8
    jan = parse("2026-01", settings)
    assert (jan.start, jan.end) == (
        datetime(2025, 12, 31, 16, tzinfo=UTC),
        datetime(2026, 1, 31, 16, tzinfo=UTC),
    )
    q4 = parse("2025-Q4", settings)
    assert (q4.start.month, q4.end) == (9, datetime(2025, 12, 31, 16, tzinfo=UTC))
    year = parse("2026", settings)
    assert year.months == 12 and year.end == datetime(2026, 12, 31, 16, tzinfo=UTC)
    # Sunday 23:30 local is still the week before; Monday 00:30 local the next
    assert week_of(datetime(2026, 1, 11, 15, 30, tzinfo=UTC), settings).label == "2026-W02"
    assert week_of(datetime(2026, 1, 11, 16, 30, tzinfo=UTC), settings).label == "2026-W03"
    assert week("2020-W53", settings).start == datetime(2020, 12, 27, 16, tzinfo=UTC)
    for bad in ("2026-13", "26-01", "2026-Q5", "2026-01-01"):
        with pytest.raises(InvalidInputError):
            parse(bad, settings)
    with pytest.raises(InvalidInputError, match="ISO week"):
        week("2025-W53", settings)  # 2025 has 52 ISO weeks (2026 has 53)


def test_stars_from_thresholds() -> None:
    settings = _settings()
    assert [stars_for(s, settings) for s in (0, 39.99, 40, 55, 69.9, 70, 85, 100)] == [
        1,
        1,
        2,
        3,
        3,
        4,
        5,
        5,
    ]
    assert stars_for(None, settings) is None
    custom = _settings(star_thresholds=[10, 20, 30, 40])
    assert stars_for(35, custom) == 4


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"assessment_weights": {"results": 0.5, "conduct": 0.6, "satisfaction": 0.1}},
            "must add up to 1, not 1.2",
        ),
        ({"assessment_weights": {"results": 1}}, "missing: conduct, satisfaction"),
        ({"assessment_weights": {"results": 1.5, "conduct": -0.5, "satisfaction": 0}}, "0 or more"),
        (
            {"assessment_weights": {"results": 1, "conduct": 0, "satisfaction": 0, "luck": 0}},
            "assessment_weights.luck",
        ),
        (
            {
                "assessment_monthly_targets": {
                    "valid_reports": 0,
                    "visits": 1,
                    "collections": 1,
                    "online_hours": 1,
                }
            },
            "valid_reports] must be over 0",
        ),
        ({"assessment_monthly_targets": {"visits": 1}}, "missing: valid_reports"),
        ({"star_thresholds": [40, 55, 70]}, "four rising scores"),
        ({"star_thresholds": [55, 40, 70, 85]}, "four rising scores"),
        ({"star_thresholds": [40, 55, 70, 120]}, "four rising scores"),
        ({"weekly_stats_delay_hours": -1}, "weekly_stats_delay_hours"),
    ],
)
def test_a_bad_formula_is_one_clear_error(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[")):
        _settings(**kw)


def test_the_formula_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "GRIDLINK_ASSESSMENT_WEIGHTS", '{"results": 0.6, "conduct": 0.2, "satisfaction": 0.2}'
    )
    monkeypatch.setenv("GRIDLINK_STAR_THRESHOLDS", "[30, 50, 70, 90]")
    settings = _settings()
    assert settings.assessment_weights["results"] == 0.6
    assert settings.star_thresholds == [30, 50, 70, 90]


def test_the_operator_reads_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `gridlink hub run` prints for a bad formula (gridlink.errors.describe)."""
    monkeypatch.setenv("GRIDLINK_ASSESSMENT_WEIGHTS", '{"results":1,"conduct":1,"satisfaction":0}')
    with pytest.raises(ValidationError) as caught:
        _settings()
    assert describe(caught.value) == (
        "invalid settings: GRIDLINK_ASSESSMENT_WEIGHTS must add up to 1, not 2"
    )
