"""Bounded integer types for every integer the API takes (query, path and body).

Python integers have no size, database columns do: SQLite refuses anything outside 64 bits
(``OverflowError`` before the query runs), PostgreSQL ``integer`` columns anything outside 32
bits. Every integer parameter and body field is declared with one of these ``Annotated`` types,
so an out-of-range value is a 422 (``invalid_input``, "Input should be less than or equal to
...") at the edge and neither database ever sees it. The constraints also appear in the OpenAPI
document (``minimum`` / ``maximum``); ``tests/hub/api/test_openapi.py`` fails on an integer
without both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # an ``Integer`` column
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # a ``BigInteger`` column

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]

RowId = Annotated[int, Field(ge=1, le=INT32_MAX)]
"""A table's integer primary key (autoincrement from 1, an ``Integer`` column)."""

Seq = Annotated[int, Field(ge=0, le=INT64_MAX)]
"""A device's event sequence number (``BigInteger``; 0 means "before the first")."""

PageOffset = Annotated[int, Field(ge=0, le=INT64_MAX)]
"""Rows to skip in a paginated list (SQLite and PostgreSQL take a 64-bit OFFSET)."""

LatE6 = Annotated[int, Field(ge=-90_000_000, le=90_000_000)]
LonE6 = Annotated[int, Field(ge=-180_000_000, le=180_000_000)]
"""WGS-84 latitude / longitude in micro-degrees (``protocol``: no floats on the wire)."""

Metres = Annotated[int, Field(ge=0, le=INT32_MAX)]
"""A non-negative distance or accuracy in metres."""


# A time the API takes (``since`` / ``until``): aware UTC, within the years the hub's data can
# hold. Outside them ``datetime`` itself overflows (``0001-01-01T00:00+14:00`` in UTC, a day
# added to 9999-12-31), so the bound is checked at the edge: a 422, never a 500.
FIRST_INSTANT = datetime(2000, 1, 1, tzinfo=UTC)
END_INSTANT = datetime(2100, 1, 1, tzinfo=UTC)


def _instant(value: datetime) -> datetime:
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not FIRST_INSTANT <= utc < END_INSTANT:
        raise ValueError("a time from 2000-01-01 to 2099-12-31 (UTC)")
    return utc


Instant = Annotated[datetime, AfterValidator(_instant)]
