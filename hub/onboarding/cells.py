"""Parsing one row's cells into values, each bad cell a ``Problem`` naming file, line and column.

The rules are the hub's own (``hub.areas`` code lengths, the API schemas' limits), so a file
that passes holds exactly what the API would have accepted.
"""

from __future__ import annotations

import re
from decimal import Decimal

from hub.areas.models import GRID_CODE_LENGTH
from hub.levels import AREA_CODE_LENGTHS
from hub.onboarding.rows import Problem, Row
from hub.onboarding.templates import LIST_SEPARATOR

AREA_LENGTHS = frozenset(AREA_CODE_LENGTHS)  # 4 city, 6 district / county, 9, 12
WORKER_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
TRUE, FALSE = ("true", "yes", "1"), ("false", "no", "0")
MICRO = Decimal(1_000_000)
# plain ASCII text only: no exponent, no digit separators, no other scripts' digits
DEGREES = re.compile(r"-?[0-9]{1,3}(\.[0-9]{1,6})?")
MANY_DECIMALS = re.compile(r"-?[0-9]{1,3}\.[0-9]{7,}")
WHOLE = re.compile(r"-?[0-9]{1,18}")
# a text cell a spreadsheet would run as a formula starts with one of these; export writes it
# with a leading apostrophe (the spreadsheets' own "this is text" mark), which the import drops
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


class Cells:
    """The cells of ``row`` in ``file``; every getter returns None after recording a problem."""

    def __init__(self, file: str, row: Row, problems: list[Problem]) -> None:
        self.file, self.row, self.problems = file, row, problems
        self.bad = False

    @property
    def line(self) -> int:
        return self.row.line

    def fail(self, column: str | None, message: str) -> None:
        self.bad = True
        self.problems.append(Problem(self.file, self.row.line, column, message))

    def raw(self, column: str) -> str:
        return self.row.values[column]

    def text(self, column: str, max_len: int, *, required: bool = True) -> str | None:
        value = unquote(self.raw(column))
        if not value:
            if required:
                self.fail(column, "is empty (required)")
            return None
        if len(value) > max_len:
            self.fail(column, f"is {len(value)} characters long (at most {max_len})")
            return None
        return value

    def choice(self, column: str, choices: tuple[str, ...], default: str | None) -> str | None:
        value = self.raw(column)
        if not value and default is not None:
            return default
        if value not in choices:
            shown = f"{value!r}" if value else "empty"
            self.fail(column, f"{shown} is not one of: {', '.join(choices)}")
            return None
        return value

    def flag(self, column: str, default: bool) -> bool | None:
        value = self.raw(column).lower()
        if not value:
            return default
        if value in TRUE:
            return True
        if value in FALSE:
            return False
        self.fail(column, f"{self.raw(column)!r} is not true or false")
        return None

    def area_code(self, column: str, *, required: bool = True) -> str | None:
        value = self.raw(column)
        if not value and not required:
            return None
        if not (value.isascii() and value.isdigit()) or len(value) not in AREA_LENGTHS:
            self.fail(column, f"{value!r} is not an area code (4, 6, 9 or 12 digits)")
            return None
        return value

    def grid_code(self, column: str, value: str | None = None) -> str | None:
        value = self.raw(column) if value is None else value
        if not (value.isascii() and value.isdigit()) or len(value) != GRID_CODE_LENGTH:
            self.fail(column, f"{value!r} is not a 14-digit code")
            return None
        return value

    def integer(self, column: str, low: int, high: int) -> int | None:
        value = self.raw(column)
        if WHOLE.fullmatch(value) is None:
            self.fail(column, f"{value!r} is not a whole number" if value else "is empty")
            return None
        number = int(value)
        if not low <= number <= high:
            self.fail(column, f"{number} is out of range ({low} to {high})")
            return None
        return number

    def degrees_e6(self, column: str, limit: int) -> int | None:
        """Decimal degrees (at most 6 decimals) as micro-degrees; empty is None."""
        value = self.raw(column)
        if not value:
            return None
        if DEGREES.fullmatch(value) is None:
            if MANY_DECIMALS.fullmatch(value) is not None:
                self.fail(column, f"{value!r} has more than 6 decimals")
            else:
                self.fail(column, f"{value!r} is not a number of degrees (like 30.274085)")
            return None
        number = Decimal(value)
        if abs(number) > limit:
            self.fail(column, f"{value} is out of range (-{limit} to {limit})")
            return None
        return int(number * MICRO)

    def items(self, column: str) -> list[str]:
        """A ``;``-separated list; a repeated item is a problem (and kept once)."""
        value = self.raw(column)
        if not value:
            return []
        items = [item.strip() for item in value.split(LIST_SEPARATOR)]
        seen: list[str] = []
        for item in items:
            if not item:
                self.fail(column, f"{value!r} has an empty item")
            elif item in seen:
                self.fail(column, f"{item!r} is listed twice")
            else:
                seen.append(item)
        return seen


def degrees(value_e6: int | None) -> str:
    """Micro-degrees as the decimal text ``Cells.degrees_e6`` reads back (exact)."""
    if value_e6 is None:
        return ""
    sign = "-" if value_e6 < 0 else ""
    whole, frac = divmod(abs(value_e6), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def quote(text: str) -> str:
    """A text cell as export writes it: an apostrophe before one a spreadsheet would run as a
    formula (or that starts with an apostrophe), so ``unquote(quote(t)) == t``."""
    return QUOTE + text if text.startswith((*FORMULA_START, QUOTE)) else text


def unquote(cell: str) -> str:
    """A text cell as the import reads it: the apostrophe ``quote`` added is dropped."""
    if cell.startswith(QUOTE) and cell[1:].startswith((*FORMULA_START, QUOTE)):
        return cell[1:]
    return cell
