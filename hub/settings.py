"""The hub's single configuration object (environment variables prefixed ``GRIDLINK_``)."""

from __future__ import annotations

import math
import os
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from hub.levels import DEFAULT_CHAIN, Level, parse_chain
from protocol import pin

DEFAULT_ADMIN_TOKEN = "gridlink-dev-admin-token"
# the kinds of supervision notice (hub.cases.models.SupervisionLevel), lightest first
SupervisionKind = Literal["reminder", "rectification", "public_notice", "summons", "listed"]
DEFAULT_RESPONSE_HOURS: dict[SupervisionKind, int] = {
    "reminder": 4,
    "rectification": 16,
    "public_notice": 8,
    "summons": 8,
    "listed": 40,
}
DEFAULT_LADDER: list[SupervisionKind] = ["reminder", "rectification", "listed"]
DEFAULT_DATA_DIR = Path("var/hub")
AssessmentPart = Literal["results", "conduct", "satisfaction"]
AssessmentTarget = Literal["valid_reports", "visits", "collections", "online_hours"]
DEFAULT_ASSESSMENT_WEIGHTS: dict[AssessmentPart, float] = {
    "results": 0.5,
    "conduct": 0.3,
    "satisfaction": 0.2,
}
DEFAULT_ASSESSMENT_TARGETS: dict[AssessmentTarget, float] = {
    "valid_reports": 20,
    "visits": 40,
    "collections": 30,
    "online_hours": 160,
}
DEFAULT_STAR_THRESHOLDS = (40.0, 55.0, 70.0, 85.0)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
MIN_TOKEN_BITS = 128

# Character classes for the admin-token estimate (see ``token_entropy_bits``).
_HEX = frozenset("0123456789abcdef")
_CLASSES: tuple[tuple[frozenset[str], int], ...] = (
    (frozenset("abcdefghijklmnopqrstuvwxyz"), 26),
    (frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 26),
    (frozenset("0123456789"), 10),
    (frozenset("-_"), 2),  # with the three above: the token_urlsafe alphabet
)
_OTHER_CLASS_SIZE = 32  # any other character: punctuation, space, non-ASCII
_MAX_REPEAT_FACTOR = 3  # the length counted is at most 3x the number of distinct characters


def token_entropy_bits(token: str) -> float:
    """An estimate of a token's entropy: ``counted_length x log2(alphabet)``.

    ``alphabet`` is 16 when every character is a lowercase hex digit, else the sum of the sizes
    of the classes the token uses (a-z 26, A-Z 26, 0-9 10, ``-_`` 2, anything else 32).
    ``counted_length`` is the length, but at most 3x the number of distinct characters, so
    repeats earn nothing (``"a" * 64`` counts 3 characters, ``"ab" * 32`` six). It measures
    what a generated token looks like: ``secrets.token_urlsafe(32)`` (43 characters, ~256
    bits) passes easily, a short or repetitive one does not; a long human phrase is
    overestimated, so generate the token.
    """
    if not token:
        return 0.0
    chars = set(token)
    if chars <= _HEX:
        alphabet = 16
    else:
        alphabet = sum(size for members, size in _CLASSES if chars & members)
        if any(not any(c in members for members, _ in _CLASSES) for c in chars):
            alphabet += _OTHER_CLASS_SIZE
    counted = min(len(token), _MAX_REPEAT_FACTOR * len(chars))
    return counted * math.log2(alphabet) if alphabet > 1 else 0.0


class Settings(BaseSettings):
    """Hub settings. Secrets are ``SecretStr`` (masked when printed).

    ``env`` is ``production`` unless set: production refuses the published development admin
    token and any admin token under ``MIN_TOKEN_BITS`` (``token_entropy_bits``); the published
    token works only with ``env="development"`` and ``api_host`` on loopback. ``database_url``,
    ``media_dir`` and ``hub_key_path`` not given are derived from ``data_dir``, so they are
    always set.
    """

    model_config = SettingsConfigDict(env_prefix="GRIDLINK_", extra="ignore")

    env: Literal["development", "production"] = "production"
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""  # default: sqlite file under data_dir
    media_dir: Path = DEFAULT_DATA_DIR / "media"  # default: data_dir / "media"
    hub_key_path: Path = DEFAULT_DATA_DIR / "hub_key.pem"  # default: data_dir / "hub_key.pem"

    # Where media bytes live (docs/scale-out.md, "Media in S3-compatible storage"). "file":
    # under media_dir. "s3": in s3_bucket (keys "<s3_prefix>ab/cd/<sha256>") on any
    # S3-compatible server (MinIO, AWS S3...); partial uploads are still spooled under
    # media_dir/partial until complete. s3_endpoint_url: the server (none: AWS by s3_region);
    # given, requests use path-style addressing, which MinIO and most others need. No key pair:
    # boto3's own chain (AWS_* variables, ~/.aws, an instance role).
    media_store: Literal["file", "s3"] = "file"
    s3_endpoint_url: str | None = None
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None

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
    # Helper processes that share each ingest worker's signature checks (hub.ingest.verifier);
    # None: one when the machine has more than one core, else none. 0: all in the worker.
    ingest_verify_processes: int | None = Field(default=None, ge=0, le=16)
    # A helper process per ingest worker that seals and publishes its receipts on a broker
    # connection of its own (hub.ingest.receipt_process), off the worker's GIL; None: on when
    # the machine has more than one core. False: the worker's own thread does it.
    ingest_receipt_process: bool | None = None

    # TLS to the broker (docs/operations.md, "TLS"): the CA that signed the broker's certificate
    # (PEM; none: the system's CAs) and, when the broker requires client certificates, the hub's
    # certificate and key (PEM). The broker's certificate must name mqtt_host.
    mqtt_tls: bool = False
    mqtt_tls_ca: Path | None = None
    mqtt_tls_cert: Path | None = None
    mqtt_tls_key: Path | None = None
    # Broker accounts (docs/operations.md, "Broker security"). "dynsec": Mosquitto's
    # dynamic-security plugin; the hub creates each device's account (client id bound, ACL to its
    # own topics) when it is registered and disables it (dropping its session) when it is
    # revoked, over the hub's own account (mqtt_username / mqtt_password, which needs the
    # $CONTROL/dynamic-security topic). "none": an anonymous broker, development only (the
    # embedded demo broker). Not set: dynsec in production, none in development.
    broker_accounts: Literal["dynsec", "none"] | None = None
    broker_admin_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # After a device rotates its key, events signed by the old key are still accepted this long
    # (what it signed and queued before the rotation).
    key_rotation_overlap_s: int = Field(default=600, ge=0, le=7 * 24 * 3600)

    # Firmware over the air (docs/ota.md): the ops key's PUBLIC key (64 hex; the hub never
    # holds the seed that signs bundles). None: OTA is off (uploads answer 409). Bundles are
    # kept in ota_dir (default: data_dir / "ota"), apart from the media store.
    ota_ops_key: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @field_validator("ota_ops_key", mode="before")
    @classmethod
    def _ops_key_lower(cls, value: object) -> object:
        """Hex in either case (``gridlink provision`` prints lower case)."""
        return value.strip().lower() if isinstance(value, str) else value

    ota_dir: Path = DEFAULT_DATA_DIR / "ota"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    admin_token: SecretStr = SecretStr(DEFAULT_ADMIN_TOKEN)

    # Console sign-in (docs/hub.md, "Sessions and passwords"). ``https``: the hub is reached
    # over HTTPS (its own TLS or a proxy in front), so the session cookie is Secure (and named
    # ``__Host-gridlink_session``). A session ends session_max_age_s after sign-in, or once it
    # has been idle session_idle_timeout_s, or at sign-out / revocation, whichever comes first.
    https: bool = False
    session_max_age_s: int = Field(default=12 * 3600, ge=60, le=30 * 24 * 3600)
    session_idle_timeout_s: int = Field(default=30 * 60, ge=60, le=30 * 24 * 3600)
    # Passwords (argon2id): at least this many characters. login_max_failures wrong passwords in
    # a row lock the account's password sign-in for login_lockout_s (tokens keep working).
    password_min_length: int = Field(default=12, ge=8, le=128)
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_lockout_s: int = Field(default=15 * 60, ge=1, le=7 * 24 * 3600)
    # At most this many password checks (argon2id, 64 MiB and ~0.2 s each) run at once in the
    # hub's process; a sign-in beyond them is 429 with Retry-After (per-IP limits belong at the
    # reverse proxy).
    login_concurrent_checks: int = Field(default=2, ge=1, le=64)

    # Verification gate: the verifier's photo must be taken within this distance of the case
    # location, and within this many seconds of the verification request.
    verify_distance_m: float = 100.0
    # Where the case's grid has a boundary in force, the photo must also be taken inside it;
    # this is how far outside still counts (GPS error at the edge). 0: inside or on the edge.
    verify_boundary_margin_m: float = Field(default=0.0, ge=0, le=1000)
    verify_window_s: int = 24 * 3600
    # A warning is recorded once this fraction of the time allowed before a deadline has passed.
    warn_before_deadline_ratio: float = Field(default=0.75, gt=0, lt=1)
    # Duplicate reports: same category, within this distance and time of an earlier case.
    duplicate_distance_m: float = 50.0
    duplicate_window_s: int = 2 * 3600
    # File and dispatch grid workers' reports automatically when a responsible unit is known.
    auto_dispatch_reports: bool = True

    # Workers' PINs (hub.workers.pins): PBKDF2-HMAC-SHA256 iterations of a new PIN record.
    # Every handheld of the worker's grids runs them at sign-in (about 32 ms for 20,000 on the
    # MicroPython unix port; estimate a board at 20-50x that). A record keeps its own count.
    worker_pin_iterations: int = Field(default=pin.ITERATIONS, ge=1000, le=1_000_000)

    # Face captures of the gates (photos of access events) are deleted from the hub this many
    # days after capture (hub.access.retention); the access log rows and audit rows stay.
    face_capture_retention_days: int = Field(default=30, ge=1, le=3650)

    # Base data and personal data protection (docs/basedata.md "Retention"), enforced by the
    # supervision pass (hub.basedata.retention): a resident or organisation no collection has
    # confirmed for this many days is deleted; visits are deleted this many days after the
    # visit; a stored ``collect`` event's form fields (and its signed bytes) are erased this
    # many days after capture, a ``visit`` event's text and place with its visit; access-audit
    # rows are deleted this many days after the read they record.
    resident_retention_days: int = Field(default=1095, ge=1, le=36500)
    organisation_retention_days: int = Field(default=1095, ge=1, le=36500)
    visit_retention_days: int = Field(default=730, ge=1, le=36500)
    collect_event_retention_days: int = Field(default=30, ge=1, le=36500)
    access_audit_retention_days: int = Field(default=1825, ge=1, le=36500)

    # Reopening (docs/workflow.md "Reopening and return visits"): a satisfaction score below
    # reopen_below_satisfaction sends the case back to handling as rework for its unit (0:
    # never); a resident's complaint reopens it within complaint_window_days of its closing.
    reopen_below_satisfaction: int = Field(default=3, ge=0, le=6)
    complaint_window_days: int = Field(default=30, ge=1, le=3650)

    # The levels a case climbs, lowest first (docs/workflow.md "Escalation"): a case starts at
    # the first, escalates one step at a time and stops at the last (or at the last one whose
    # area exists above its grid). Comma-separated: "community,street,district,city" or
    # "township,county,city"; each level's area code must be shorter than the one before.
    escalation_chain: Annotated[tuple[Level, ...], NoDecode] = DEFAULT_CHAIN

    @field_validator("escalation_chain", mode="before")
    @classmethod
    def _parse_chain(cls, value: object) -> object:
        """One clear message for an empty chain, an unknown name or a wrong order."""
        if isinstance(value, str) or (
            isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        ):
            return parse_chain(value)
        return value

    # Supervision notices (督办, docs/workflow.md "Supervision"): the working hours a unit has
    # to answer each kind (a rectification notice may also be given its own deadline), and the
    # ladder the supervision pass climbs when a notice's deadline passes unmet.
    supervision_response_hours: dict[SupervisionKind, int] = Field(
        default_factory=lambda: dict(DEFAULT_RESPONSE_HOURS)
    )
    supervision_ladder: list[SupervisionKind] = Field(
        default_factory=lambda: list(DEFAULT_LADDER), min_length=1
    )

    # Notifications to the units' liaisons (docs/notifications.md): a one-key report, every
    # dispatch and escalation, deadline warnings, overdue notices and supervision notices. A
    # sender thread of `gridlink hub run` delivers them from the database (each a row written in
    # the transaction of the case change) every notify_poll_s, notify_concurrency at a time,
    # each attempt given notify_timeout_s; a failed attempt is retried after notify_retry_base_s,
    # doubled per failure up to notify_retry_max_s, notify_max_attempts in all.
    notify_poll_s: float = Field(default=0.5, gt=0, le=60)
    notify_concurrency: int = Field(default=4, ge=1, le=64)
    notify_timeout_s: float = Field(default=10.0, gt=0, le=120)
    notify_retry_base_s: float = Field(default=2.0, gt=0, le=3600)
    notify_retry_max_s: float = Field(default=900.0, gt=0, le=24 * 3600)
    notify_max_attempts: int = Field(default=12, ge=1, le=100)
    # The console's address as the liaisons reach it (e.g. https://grid.example.gov.cn): a
    # notification links to the case there. Empty: no link.
    public_url: str = ""
    # The e-mail channel's SMTP server (none: e-mail liaisons cannot be added). smtp_security:
    # "starttls" (port 587), "tls" (implicit TLS, port 465) or "none" (a relay on loopback).
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = ""

    # Statistics and assessment (docs/assessment.md). Weeks, months, quarters and years are
    # local civil time (work_utc_offset_minutes). The weekly job stores a finished ISO week
    # weekly_stats_delay_hours after it ended (handhelds that were offline upload late), for
    # each of the last weekly_stats_backfill_weeks weeks not stored yet.
    weekly_stats_delay_hours: int = Field(default=6, ge=0, le=7 * 24)
    weekly_stats_backfill_weeks: int = Field(default=8, ge=1, le=520)
    # The score: weights of its three components (each 0..100), summing to 1.
    assessment_weights: dict[AssessmentPart, float] = Field(
        default_factory=lambda: dict(DEFAULT_ASSESSMENT_WEIGHTS)
    )
    # What a worker is expected to do in a month (a quarter: x3, a year: x12); a figure at or
    # over its target earns its full share of the results or conduct component.
    assessment_monthly_targets: dict[AssessmentTarget, float] = Field(
        default_factory=lambda: dict(DEFAULT_ASSESSMENT_TARGETS)
    )
    # A verification is on time when the worker answers within this many hours of the task.
    assessment_verify_on_time_hours: float = Field(default=24.0, gt=0, le=30 * 24)
    # Points of conduct (0..100) an unqualified inspection verdict costs.
    assessment_unqualified_penalty: float = Field(default=10.0, ge=0, le=100)
    # Star ratings of grids and centres: the scores (0..100) at which 2, 3, 4 and 5 stars begin.
    star_thresholds: list[float] = Field(default_factory=lambda: list(DEFAULT_STAR_THRESHOLDS))

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
        try:
            make_url(self.database_url)
        except (ArgumentError, ValueError):
            # not echoed: the URL may hold a password
            raise ValueError(
                "GRIDLINK_DATABASE_URL (or --database-url) is not a database URL: want "
                "dialect+driver://user:password@host:port/database (numeric port) or "
                "sqlite:///path/hub.db"
            ) from None
        if "media_dir" not in self.model_fields_set:
            self.media_dir = self.data_dir / "media"
        if "ota_dir" not in self.model_fields_set:
            self.ota_dir = self.data_dir / "ota"
        if "hub_key_path" not in self.model_fields_set:
            self.hub_key_path = self.data_dir / "hub_key.pem"
        if self.work_day_end_hour <= self.work_day_start_hour:
            raise ValueError("work_day_end_hour must be after work_day_start_hour")
        self._check_admin_token()
        self._check_broker()
        self._check_media_store()
        self._check_notify()
        self._check_supervision()
        self._check_assessment()
        return self

    def _check_assessment(self) -> None:
        """A bad formula is one clear line at start-up, not a wrong score later."""
        weights = self.assessment_weights
        missing = [p for p in get_args(AssessmentPart) if p not in weights]
        if missing:
            raise ValueError(
                "GRIDLINK_ASSESSMENT_WEIGHTS must weigh results, conduct and satisfaction "
                f"(missing: {', '.join(missing)})"
            )
        if any(not math.isfinite(w) or w < 0 for w in weights.values()):
            raise ValueError("GRIDLINK_ASSESSMENT_WEIGHTS are 0 or more")
        total = sum(weights.values())
        if abs(total - 1) > 1e-6:
            raise ValueError(f"GRIDLINK_ASSESSMENT_WEIGHTS must add up to 1, not {total:g}")
        targets = self.assessment_monthly_targets
        missing = [t for t in get_args(AssessmentTarget) if t not in targets]
        if missing:
            raise ValueError(
                "GRIDLINK_ASSESSMENT_MONTHLY_TARGETS must set valid_reports, visits, "
                f"collections and online_hours (missing: {', '.join(missing)})"
            )
        for name, value in targets.items():
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"GRIDLINK_ASSESSMENT_MONTHLY_TARGETS[{name}] must be over 0")
        stars = self.star_thresholds
        if len(stars) != 4 or any(not 0 < s <= 100 for s in stars) or sorted(set(stars)) != stars:
            raise ValueError(
                "GRIDLINK_STAR_THRESHOLDS is four rising scores in (0, 100]: where 2, 3, 4 and "
                f"5 stars begin (e.g. [40, 55, 70, 85]), not {stars}"
            )

    def _check_supervision(self) -> None:
        ladder = self.supervision_ladder
        if len(set(ladder)) != len(ladder):
            raise ValueError("GRIDLINK_SUPERVISION_LADDER names a kind twice")
        order = list(get_args(SupervisionKind))
        if [order.index(k) for k in ladder] != sorted(order.index(k) for k in ladder):
            raise ValueError(
                "GRIDLINK_SUPERVISION_LADDER climbs from the lightest kind to the heaviest: "
                f"in the order {', '.join(order)}"
            )
        for kind, hours in self.supervision_response_hours.items():
            if not 1 <= hours <= 24 * 30:
                raise ValueError(f"GRIDLINK_SUPERVISION_RESPONSE_HOURS[{kind}] is 1..720 hours")

    def _check_notify(self) -> None:
        self.public_url = self.public_url.rstrip("/")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ValueError("GRIDLINK_PUBLIC_URL must start with http:// or https://")
        if self.smtp_host and "@" not in self.smtp_from:
            raise ValueError(
                "GRIDLINK_SMTP_HOST is set: GRIDLINK_SMTP_FROM must be the sender's address "
                "(e.g. gridlink@grid.example.gov.cn)"
            )
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("GRIDLINK_SMTP_USERNAME and GRIDLINK_SMTP_PASSWORD go together")
        if self.notify_retry_max_s < self.notify_retry_base_s:
            raise ValueError("GRIDLINK_NOTIFY_RETRY_MAX_S must be at least _RETRY_BASE_S")

    def _check_media_store(self) -> None:
        if self.s3_prefix and not self.s3_prefix.endswith("/"):
            self.s3_prefix += "/"
        if self.media_store != "s3":
            return
        if not self.s3_bucket:
            raise ValueError(
                "GRIDLINK_MEDIA_STORE=s3 needs GRIDLINK_S3_BUCKET (and GRIDLINK_S3_ENDPOINT_URL "
                "unless the bucket is on AWS)"
            )
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError(
                "GRIDLINK_S3_ACCESS_KEY_ID and GRIDLINK_S3_SECRET_ACCESS_KEY go together"
            )

    def _check_broker(self) -> None:
        if self.broker_accounts is None:
            self.broker_accounts = "dynsec" if self.env == "production" else "none"
        if self.broker_accounts == "none" and self.env == "production":
            raise ValueError(
                "GRIDLINK_BROKER_ACCOUNTS=none (an anonymous broker) is for GRIDLINK_ENV="
                "development only: production needs the locked-down broker (dynsec)"
            )
        if self.broker_accounts == "dynsec" and not (self.mqtt_username and self.mqtt_password):
            raise ValueError(
                "GRIDLINK_BROKER_ACCOUNTS=dynsec needs the hub's broker account: set "
                "GRIDLINK_MQTT_USERNAME and GRIDLINK_MQTT_PASSWORD (gridlink provision broker "
                "writes them), or GRIDLINK_BROKER_ACCOUNTS=none with GRIDLINK_ENV=development"
            )
        if (self.mqtt_tls_cert is None) != (self.mqtt_tls_key is None):
            raise ValueError("GRIDLINK_MQTT_TLS_CERT and GRIDLINK_MQTT_TLS_KEY go together")
        if not self.mqtt_tls and (self.mqtt_tls_ca or self.mqtt_tls_cert):
            raise ValueError(
                "GRIDLINK_MQTT_TLS_CA / _CERT are set but GRIDLINK_MQTT_TLS is off: set "
                "GRIDLINK_MQTT_TLS=true"
            )

    def _check_admin_token(self) -> None:
        token = self.admin_token.get_secret_value()
        if self.env == "development":
            if token == DEFAULT_ADMIN_TOKEN and self.api_host not in LOOPBACK_HOSTS:
                raise ValueError(
                    "the published development GRIDLINK_ADMIN_TOKEN works only with "
                    f"GRIDLINK_API_HOST on loopback (127.0.0.1, ::1, localhost), not "
                    f"{self.api_host}"
                )
            return
        if token == DEFAULT_ADMIN_TOKEN:
            raise ValueError(
                "GRIDLINK_ADMIN_TOKEN is the published development token: set a secret one "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))'), or "
                "GRIDLINK_ENV=development on loopback"
            )
        bits = token_entropy_bits(token)
        if bits < MIN_TOKEN_BITS:
            raise ValueError(
                f"GRIDLINK_ADMIN_TOKEN is too weak for GRIDLINK_ENV={self.env} (about {bits:.0f} "
                f"bits, {MIN_TOKEN_BITS} needed): use python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()


def receipt_process(settings: Settings | None) -> bool:
    """The ``ingest_receipt_process`` in force (None: on a machine of 2+ cores)."""
    if settings is not None and settings.ingest_receipt_process is not None:
        return settings.ingest_receipt_process
    return (os.cpu_count() or 1) > 1


def verify_processes(settings: Settings | None) -> int:
    """The ``ingest_verify_processes`` in force (None: one helper on a machine of 2+ cores)."""
    if settings is not None and settings.ingest_verify_processes is not None:
        return settings.ingest_verify_processes
    return 1 if (os.cpu_count() or 1) > 1 else 0
