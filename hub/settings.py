"""The hub's single configuration object (environment variables prefixed ``GRIDLINK_``)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ADMIN_TOKEN = "gridlink-dev-admin-token"
DEFAULT_DATA_DIR = Path("var/hub")


class Settings(BaseSettings):
    """Hub settings. Secrets are ``SecretStr`` (masked when printed); defaults suit development.

    Outside ``env="development"`` the default admin token is refused. ``database_url``,
    ``media_dir`` and ``hub_key_path`` not given are derived from ``data_dir``, so they are
    always set.
    """

    model_config = SettingsConfigDict(env_prefix="GRIDLINK_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""  # default: sqlite file under data_dir
    media_dir: Path = DEFAULT_DATA_DIR / "media"  # default: data_dir / "media"
    hub_key_path: Path = DEFAULT_DATA_DIR / "hub_key.pem"  # default: data_dir / "hub_key.pem"

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    # "5": MQTT v5 with shared subscriptions, so several ingest workers split the load
    # (Mosquitto, EMQX). "3.1.1": plain subscriptions, one worker only (the embedded demo broker).
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    # The ingest workers' persistent broker session: worker i connects as
    # "<mqtt_client_id>-<i>" (empty: "gridlink-<hostname>"), the same id after every restart,
    # with clean start off; the broker keeps the session and queues for it while the hub is
    # away, for up to mqtt_session_expiry_s (default 7 days: a long weekend's outage).
    mqtt_client_id: str = ""
    mqtt_session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0, le=0xFFFFFFFF)
    # Broker link retries: wait the minimum, doubled per failed attempt up to the maximum.
    mqtt_reconnect_min_s: float = Field(default=0.5, gt=0)
    mqtt_reconnect_max_s: float = Field(default=30.0, gt=0)
    # Receipts are coalesced per device: at most one per device per interval, the last one
    # always sent (the device verifies each in pure Python, ~40 ms; receipts are cumulative, so
    # the ones left out lose nothing). 0: one receipt per stored batch.
    receipt_interval_ms: int = Field(default=500, ge=0, le=60_000)

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    admin_token: SecretStr = SecretStr(DEFAULT_ADMIN_TOKEN)

    # Verification gate: the verifier's photo must be taken within this distance of the case
    # location, and within this many seconds of the verification request.
    verify_distance_m: float = 100.0
    verify_window_s: int = 24 * 3600
    # A warning is recorded once this fraction of the time allowed before a deadline has passed.
    warn_before_deadline_ratio: float = Field(default=0.75, gt=0, lt=1)
    # Duplicate reports: same category, within this distance and time of an earlier case.
    duplicate_distance_m: float = 50.0
    duplicate_window_s: int = 2 * 3600
    # File and dispatch grid workers' reports automatically when a responsible unit is known.
    auto_dispatch_reports: bool = True

    # Working-day calendar for deadlines (local civil time = UTC + offset).
    work_utc_offset_minutes: int = 8 * 60
    work_day_start_hour: int = Field(default=9, ge=0, le=23)
    work_day_end_hour: int = Field(default=17, ge=1, le=24)
    weekend_days: list[int] = Field(default_factory=lambda: [5, 6])  # Monday = 0
    holidays: list[date] = Field(default_factory=list)
    extra_working_days: list[date] = Field(default_factory=list)  # make-up workdays

    @model_validator(mode="after")
    def _fill_defaults_and_check(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'hub.db'}"
        if "media_dir" not in self.model_fields_set:
            self.media_dir = self.data_dir / "media"
        if "hub_key_path" not in self.model_fields_set:
            self.hub_key_path = self.data_dir / "hub_key.pem"
        if self.work_day_end_hour <= self.work_day_start_hour:
            raise ValueError("work_day_end_hour must be after work_day_start_hour")
        if self.env != "development":
            token = self.admin_token.get_secret_value()
            if token == DEFAULT_ADMIN_TOKEN or len(token) < 16:
                raise ValueError(
                    "GRIDLINK_ADMIN_TOKEN must be set to a strong secret (16+ chars) "
                    f"when GRIDLINK_ENV={self.env}"
                )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()
