"""require(): a missing component fails, unless GRIDLINK_TEST_ALLOW_SKIP names it."""

from __future__ import annotations

import pytest

from tests.support.components import ALLOW_SKIP, require


def test_a_missing_component_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_SKIP, raising=False)
    with pytest.raises(pytest.fail.Exception, match="chromium not installed"):
        require("chromium", "chromium not installed")


def test_the_opt_out_skips_only_what_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_SKIP, "postgres")
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL"):
        require("postgres", "no PostgreSQL")
    with pytest.raises(pytest.fail.Exception):
        require("chromium", "chromium not installed")


def test_an_unknown_name_in_the_opt_out_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_SKIP, "postgress")
    with pytest.raises(pytest.fail.Exception, match="unknown components"):
        require("postgres", "no PostgreSQL")
