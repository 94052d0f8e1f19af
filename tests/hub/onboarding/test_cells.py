"""Every cell parser on any text: a value or a Problem naming file, line and column, never an
exception (a traceback out of ``gridlink hub import`` is a bug)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hub.onboarding.cells import Cells, degrees
from hub.onboarding.rows import Problem, Row
from hub.onboarding.templates import TEMPLATES

COLUMN = "c"
PARSERS: dict[str, Callable[[Cells], object]] = {
    "text": lambda c: c.text(COLUMN, 20),
    "optional text": lambda c: c.text(COLUMN, 20, required=False),
    "choice": lambda c: c.choice(COLUMN, ("worker", "assistant"), "worker"),
    "flag": lambda c: c.flag(COLUMN, True),
    "area_code": lambda c: c.area_code(COLUMN),
    "optional area_code": lambda c: c.area_code(COLUMN, required=False),
    "grid_code": lambda c: c.grid_code(COLUMN),
    "integer": lambda c: c.integer(COLUMN, 1, 8760),
    "lat": lambda c: c.degrees_e6(COLUMN, 90),
    "lon": lambda c: c.degrees_e6(COLUMN, 180),
    "items": lambda c: c.items(COLUMN),
}
NASTY = [
    "1e999999", "1e-999999999", "1_0.5", "-0", "NaN", "Infinity", "-inf", "0x1F", " 30.5",
    "30.5 ", "３０.５", "٣٠", "1" * 5000, "-", ".5", "5.", "30.1234567", "+30.5", "1E2",
]  # fmt: skip
CELL_TEXT = st.one_of(
    st.sampled_from(NASTY), st.text(max_size=60), st.from_regex(r"-?[0-9.eE_]{0,12}")
)


def run(parser: str, value: str) -> tuple[object, list[Problem]]:
    problems: list[Problem] = []
    cells = Cells("x.csv", Row(7, {COLUMN: value}), problems)
    got = PARSERS[parser](cells)
    return got, problems


@pytest.mark.parametrize("parser", sorted(PARSERS))
@settings(max_examples=300, deadline=None)
@given(value=CELL_TEXT)
def test_any_text_gives_a_value_or_a_problem(parser: str, value: str) -> None:
    got, problems = run(parser, value)
    for p in problems:
        assert (p.file, p.line, p.column) == ("x.csv", 7, COLUMN)
        assert p.message and "\n" not in p.message
    if got is None and value:
        assert problems, (parser, value)


@given(value=st.integers(-180_000_000, 180_000_000))
@example(value=0)
def test_degrees_round_trip(value: int) -> None:
    assert run("lon", degrees(value)) == (value, [])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e999999", "'1e999999' is not a number of degrees (like 30.274085)"),
        ("1e-999999999", "'1e-999999999' is not a number of degrees (like 30.274085)"),
        ("1_0.5", "'1_0.5' is not a number of degrees (like 30.274085)"),
        ("３０.５", "'３０.５' is not a number of degrees (like 30.274085)"),
        ("30.1234567", "'30.1234567' has more than 6 decimals"),
        ("90.000001", "90.000001 is out of range (-90 to 90)"),
    ],
)
def test_degrees_are_plain_decimals(value: str, message: str) -> None:
    assert run("lat", value) == (None, [Problem("x.csv", 7, COLUMN, message)])


@pytest.mark.parametrize("value", ["1_0", "٣", " 5", "+5", "1" * 5000])
def test_whole_numbers_are_plain_digits(value: str) -> None:
    got, problems = run("integer", value)
    assert got is None and [p.message for p in problems] == [f"{value!r} is not a whole number"]


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=300))
def test_any_file_text_gives_rows_or_problems(kind: str, text: str) -> None:
    from hub.onboarding.rows import parse_sheet

    sheet = parse_sheet(TEMPLATES[kind], TEMPLATES[kind].filename, text)
    assert all(isinstance(p, Problem) for p in sheet.problems)
