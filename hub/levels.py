"""Administrative levels and the escalation chain (kernel: settings validates the chain).

Codes follow GB/T 2260 and the unified unit-grid code: a city is 4 digits, a district or
county 6, a street or township 9, a community (or village) 12 and a grid 14; an area contains
every code that starts with its own. Two names share a length (district / county, street /
township): the urban and the rural word for the same place in the tree.

The escalation chain (``Settings.escalation_chain``) is the levels a case climbs, lowest
first: ``community, street, district, city`` by default, ``township, county, city`` for a
rural deployment. Its code lengths must get shorter at every step.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Level(StrEnum):
    city = "city"
    district = "district"
    county = "county"
    street = "street"
    township = "township"
    community = "community"


LEVEL_CODE_LENGTH = {
    Level.city: 4,
    Level.district: 6,
    Level.county: 6,
    Level.street: 9,
    Level.township: 9,
    Level.community: 12,
}
GRID_CODE_LENGTH = 14
AREA_CODE_LENGTHS = tuple(sorted(set(LEVEL_CODE_LENGTH.values())))  # 4, 6, 9, 12
# the name an area of this length gets when none is given (the urban one)
DEFAULT_LEVEL_OF_LENGTH = {4: Level.city, 6: Level.district, 9: Level.street, 12: Level.community}
DEFAULT_CHAIN = (Level.community, Level.street, Level.district, Level.city)


def levels_of_length(length: int) -> tuple[Level, ...]:
    """The level names an area code of ``length`` digits may have (none: not an area code)."""
    return tuple(level for level, n in LEVEL_CODE_LENGTH.items() if n == length)


def parent_length(length: int) -> int | None:
    """The code length of an area's parent: the next shorter area length (None: a city)."""
    shorter = [n for n in AREA_CODE_LENGTHS if n < length]
    return shorter[-1] if shorter else None


def parse_chain(value: str | Iterable[str]) -> tuple[Level, ...]:
    """The escalation chain from ``"community,street,district,city"`` (or a list of names),
    or ``ValueError`` with one message naming what is wrong."""
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [str(n).strip().lower() for n in names if str(n).strip()]
    known = ", ".join(level.value for level in Level)
    if not names:
        raise ValueError(f"GRIDLINK_ESCALATION_CHAIN is empty: name its levels, lowest first, "
                         f"e.g. community,street,district,city (levels: {known})")  # fmt: skip
    unknown = [n for n in names if n not in Level.__members__]
    if unknown:
        raise ValueError(f"GRIDLINK_ESCALATION_CHAIN names unknown level(s) "
                         f"{', '.join(unknown)}: the levels are {known}")  # fmt: skip
    chain = tuple(Level(n) for n in names)
    lengths = [LEVEL_CODE_LENGTH[level] for level in chain]
    if any(upper >= lower for lower, upper in zip(lengths, lengths[1:], strict=False)):
        shown = ", ".join(
            f"{level.value} ({n} digits)" for level, n in zip(chain, lengths, strict=True)
        )
        raise ValueError(f"GRIDLINK_ESCALATION_CHAIN goes from the lowest level up, each with a "
                         f"shorter area code than the one before: {shown} does not")  # fmt: skip
    return chain


def next_level(level: Level | str, chain: tuple[Level, ...]) -> Level | None:
    """The level of ``chain`` a case at ``level`` escalates to: the first one whose area code
    is shorter (a level the chain does not name still finds its place by code length). None at
    the top of the chain."""
    length = LEVEL_CODE_LENGTH[Level(level)]
    return next((up for up in chain if LEVEL_CODE_LENGTH[up] < length), None)
