"""What the suite needs from the machine (PostgreSQL, Chromium): missing means failed.

A test that finds its component missing calls ``require(component, reason)``. That fails the
test, unless the one opt-out variable names the component:

    GRIDLINK_TEST_ALLOW_SKIP=postgres,chromium pytest ...    # then those tests skip, with reason

``make test`` never sets it, so on a machine where ``make services`` could not install
something the suite is red, not silently smaller.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

ALLOW_SKIP = "GRIDLINK_TEST_ALLOW_SKIP"
COMPONENTS = frozenset({"postgres", "chromium"})


def allowed_skips() -> set[str]:
    names = {n.strip() for n in os.environ.get(ALLOW_SKIP, "").split(",") if n.strip()}
    unknown = names - COMPONENTS
    if unknown:
        known = ", ".join(sorted(COMPONENTS))
        pytest.fail(f"{ALLOW_SKIP} names unknown components {sorted(unknown)} (known: {known})")
    return names


def require(component: str, reason: str) -> NoReturn:
    """The component is missing: fail, or skip when ``GRIDLINK_TEST_ALLOW_SKIP`` names it."""
    assert component in COMPONENTS, component
    if component in allowed_skips():
        pytest.skip(f"{reason} (skipped: {ALLOW_SKIP} names {component})")
    pytest.fail(
        f"{reason}. A missing component fails the suite; run `make services`, or set "
        f"{ALLOW_SKIP}={component} to skip these tests on purpose",
        pytrace=False,
    )
