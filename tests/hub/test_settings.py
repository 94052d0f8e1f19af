"""Settings refuse default secrets outside development and mask them when printed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr, ValidationError

from hub.clock import FrozenClock
from hub.settings import DEFAULT_ADMIN_TOKEN, Settings


def test_production_refuses_default_admin_token() -> None:
    with pytest.raises(ValidationError, match="GRIDLINK_ADMIN_TOKEN"):
        Settings(env="production")
    ok = Settings(
        env="production", admin_token=SecretStr("x" * 32), mqtt_password=SecretStr("broker-secret")
    )
    assert "x" * 32 not in repr(ok) and "broker-secret" not in str(ok)
    assert ok.database_url.endswith("hub.db") and ok.media_dir is not None


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDLINK_VERIFY_DISTANCE_M", "42")
    monkeypatch.setenv("GRIDLINK_WEEKEND_DAYS", "[6]")
    settings = Settings()
    assert settings.verify_distance_m == 42 and settings.weekend_days == [6]
    assert settings.admin_token.get_secret_value() == DEFAULT_ADMIN_TOKEN


def test_frozen_clock() -> None:
    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    assert clock.advance(hours=2) == datetime(2026, 3, 1, 2, tzinfo=UTC)
    clock.set(datetime(2026, 3, 2))  # naive is taken as UTC
    assert clock.now().tzinfo is UTC
