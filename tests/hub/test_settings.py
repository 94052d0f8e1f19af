"""Settings refuse default secrets outside development and mask them when printed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

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
    assert ok.database_url.endswith("hub.db")


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


def test_paths_follow_data_dir_unless_given(tmp_path: Path) -> None:
    derived = Settings(data_dir=tmp_path)
    assert derived.media_dir == tmp_path / "media"
    assert derived.hub_key_path == tmp_path / "hub_key.pem"
    assert derived.database_url == f"sqlite:///{tmp_path / 'hub.db'}"
    given = Settings(data_dir=tmp_path, media_dir=tmp_path / "blobs")
    assert given.media_dir == tmp_path / "blobs" and given.hub_key_path.parent == tmp_path
