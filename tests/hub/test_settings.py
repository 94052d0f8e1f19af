"""Settings: production by default, strong admin tokens there, secrets masked when printed."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from hub.clock import FrozenClock
from hub.settings import DEFAULT_ADMIN_TOKEN, Settings, token_entropy_bits


def test_production_refuses_default_admin_token() -> None:
    with pytest.raises(ValidationError, match="GRIDLINK_ADMIN_TOKEN"):
        Settings(env="production")
    token = secrets.token_urlsafe(32)
    ok = Settings(
        env="production",
        admin_token=SecretStr(token),
        mqtt_username="hub",
        mqtt_password=SecretStr("broker-secret"),
    )
    assert token not in repr(ok) and "broker-secret" not in str(ok)
    assert ok.database_url.endswith("hub.db")


def test_production_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment that forgets GRIDLINK_ENV does not accept the published token."""
    monkeypatch.delenv("GRIDLINK_ENV", raising=False)
    monkeypatch.delenv("GRIDLINK_ADMIN_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="published development token"):
        Settings()
    token = SecretStr(secrets.token_urlsafe(32))
    with pytest.raises(ValidationError, match="GRIDLINK_MQTT_USERNAME"):
        Settings(admin_token=token)  # production locks the broker down: the hub needs its account
    ok = Settings(admin_token=token, mqtt_username="hub", mqtt_password=SecretStr("s" * 20))
    assert ok.env == "production" and ok.broker_accounts == "dynsec"


def test_anonymous_broker_only_in_development() -> None:
    token = SecretStr(secrets.token_urlsafe(32))
    with pytest.raises(ValidationError, match="development only"):
        Settings(env="production", admin_token=token, broker_accounts="none")
    assert Settings(env="development").broker_accounts == "none"


def test_tls_settings_go_together(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="go together"):
        Settings(env="development", mqtt_tls=True, mqtt_tls_cert=tmp_path / "hub.pem")
    with pytest.raises(ValidationError, match="GRIDLINK_MQTT_TLS=true"):
        Settings(env="development", mqtt_tls_ca=tmp_path / "ca.pem")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "hub.example.org"])
def test_published_token_only_on_loopback_in_development(host: str) -> None:
    with pytest.raises(ValidationError, match="loopback"):
        Settings(env="development", api_host=host)
    strong = Settings(env="development", api_host=host, admin_token=SecretStr("y" * 40))
    assert strong.api_host == host  # development does not judge a token it did not publish
    for loopback in ("127.0.0.1", "::1", "localhost"):
        dev = Settings(env="development", api_host=loopback)
        assert dev.admin_token.get_secret_value() == DEFAULT_ADMIN_TOKEN


@pytest.mark.parametrize(
    "weak",
    [
        "a" * 16,  # accepted before: 16 characters was the whole rule
        "a" * 64,
        "ab" * 32,
        "0123456789abcdef",  # hex: 64 bits
        "Password12345678",
        "abcdefghijABCDEFGHIJ",  # 20 characters of letters: about 114 bits
    ],
)
def test_production_refuses_weak_admin_tokens(weak: str) -> None:
    with pytest.raises(ValidationError, match="too weak"):
        Settings(env="production", admin_token=SecretStr(weak))


def test_token_entropy_estimate() -> None:
    assert token_entropy_bits("") == 0
    assert token_entropy_bits("a" * 100) < 20  # repeats earn nothing
    assert token_entropy_bits("0f" * 8) == 6 * 4  # hex alphabet, 2 distinct -> 6 counted
    assert 250 < token_entropy_bits(secrets.token_urlsafe(32)) <= 43 * 6
    assert token_entropy_bits(secrets.token_hex(32)) >= 128
    for _ in range(200):
        Settings(
            env="production",
            admin_token=SecretStr(secrets.token_urlsafe(32)),
            broker_accounts="dynsec",
            mqtt_username="hub",
            mqtt_password=SecretStr("broker-secret"),
        )


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDLINK_ENV", "development")
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
    derived = Settings(env="development", data_dir=tmp_path)
    assert derived.media_dir == tmp_path / "media"
    assert derived.hub_key_path == tmp_path / "hub_key.pem"
    assert derived.database_url == f"sqlite:///{tmp_path / 'hub.db'}"
    given = Settings(env="development", data_dir=tmp_path, media_dir=tmp_path / "blobs")
    assert given.media_dir == tmp_path / "blobs" and given.hub_key_path.parent == tmp_path


def test_the_escalation_chain_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRIDLINK_ENV", "development")
    assert [lv.value for lv in Settings().escalation_chain] == [
        "community", "street", "district", "city"
    ]  # fmt: skip
    monkeypatch.setenv("GRIDLINK_ESCALATION_CHAIN", "Township, county,city")
    assert [lv.value for lv in Settings().escalation_chain] == ["township", "county", "city"]


@pytest.mark.parametrize(
    ("chain", "message"),
    [
        ("", "GRIDLINK_ESCALATION_CHAIN is empty"),
        (" , ", "GRIDLINK_ESCALATION_CHAIN is empty"),
        ("community,town,city", "names unknown level(s) town: the levels are city, district"),
        ("city,district", "city (4 digits), district (6 digits) does not"),
        ("street,district,county", "street (9 digits), district (6 digits), county (6 digits)"),
        ("community,community", "community (12 digits), community (12 digits) does not"),
    ],
)
def test_a_bad_escalation_chain_is_one_clear_error(
    chain: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDLINK_ENV", "development")
    monkeypatch.setenv("GRIDLINK_ESCALATION_CHAIN", chain)
    with pytest.raises(ValidationError) as caught:
        Settings()
    (error,) = caught.value.errors()
    assert error["loc"] == ("escalation_chain",) and message in error["msg"]
