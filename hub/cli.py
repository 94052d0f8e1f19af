"""``gridlink hub ...``: run the hub, migrate its database, seed demo data, set passwords.

Only ``migrate`` creates a database; the other commands refuse a missing SQLite file and a
schema that is not at head. Operator errors (``HubCliError`` and the other types
``gridlink.errors`` knows) are printed as one line by the ``gridlink`` command.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console
from sqlalchemy.engine import make_url

from hub import broker_admin, keys, mqtt_tls
from hub.access.retention import purge_face_captures
from hub.app import create_app, database_problem, settle_heap
from hub.areas.models import Worker
from hub.assessment import periods as assessment_periods
from hub.assessment.weekly import run_weekly_stats, store_week
from hub.auth import passwords
from hub.basedata.retention import purge_base_data
from hub.cases.flows.supervision import run_supervision
from hub.clock import SystemClock
from hub.db import (
    checkpoint_wal,
    make_engine,
    make_session_factory,
    require_database,
    session_scope,
    sqlite_path,
)
from hub.devices.flows import BrokerDisableRetry
from hub.errors import ConflictError, InvalidInputError, NotFoundError
from hub.ingest import cli as ingest_cli
from hub.ingest import runner
from hub.live import api as live_api
from hub.media.factory import check_media_store, make_media_store
from hub.media.s3 import S3BlobStore
from hub.migrations.runner import upgrade
from hub.notify import sender as notify_sender
from hub.onboarding import cli as onboarding
from hub.ota.flows.supervision import run_ota_supervision
from hub.privacy import logs as privacy_logs
from hub.seed import seed_demo as seed
from hub.settings import Settings
from hub.workers import pins

app = typer.Typer(help="The Gridlink hub: API, console, ingest, workflow.", no_args_is_help=True)
console = Console()
logger = logging.getLogger(__name__)

UrlOption = Annotated[
    str | None, typer.Option("--database-url", help="Overrides GRIDLINK_DATABASE_URL.")
]


class HubCliError(Exception):
    """An operator error the hub's commands report in one line (no traceback)."""


def settings_from_env(**overrides: Any) -> Settings:
    """The settings from ``GRIDLINK_*``, with the options given on the command line over them
    (validated together: ``--host 0.0.0.0`` meets the same token rules as the variable)."""
    return Settings(**{name: value for name, value in overrides.items() if value is not None})


def _check_tls_files(settings: Settings) -> None:
    """A TLS file that cannot be used (missing, unreadable, not PEM, a key that is not the
    certificate's) is one line naming its setting, before anything starts or changes; the
    ingest workers and the broker administration would each fail on it later."""
    if not settings.mqtt_tls:
        return
    try:
        mqtt_tls.check_files(settings.mqtt_tls_ca, settings.mqtt_tls_cert, settings.mqtt_tls_key)
    except InvalidInputError as exc:
        raise HubCliError(str(exc)) from None


def _migrate(settings: Settings) -> None:
    """``alembic upgrade head``; creates the database (and ``GRIDLINK_DATA_DIR``), never a
    directory named only in the database URL."""
    if sqlite_path(settings.database_url) == settings.data_dir / "hub.db":
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the default location
    require_database(settings.database_url, create=True)
    with console.status(f"migrating {_shown(settings.database_url)} ..."):
        upgrade(settings.database_url)


def _require_schema(url: str) -> None:
    """Refuse a missing SQLite file, an unreachable database or a schema not at head."""
    require_database(url)
    engine = make_engine(url)
    try:
        problem = database_problem(engine)
    finally:
        engine.dispose()
    if problem:
        raise HubCliError(problem)


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@app.command()
def migrate(database_url: UrlOption = None) -> None:
    """Upgrade the database schema to the newest revision (alembic upgrade head), creating the
    database if there is none (the only command that does); create the hub key if missing."""
    settings = settings_from_env(database_url=database_url)
    _migrate(settings)
    console.print(f"[green]database at head[/green]: {_shown(settings.database_url)}")
    _ensure_key(settings)


@app.command()
def key() -> None:
    """Create the hub's command key if there is none; print its public half."""
    _ensure_key(settings_from_env())


def _ensure_key(settings: Settings) -> keys.HubKey:
    hub_key = keys.load_or_create(settings.hub_key_path)
    console.print(f"hub key {settings.hub_key_path}: public {hub_key.public_key_hex}")
    return hub_key


@app.command("new-migration", hidden=True)
def new_migration(
    message: Annotated[str, typer.Argument(help="What the revision changes, e.g. 'access lists'.")],
) -> None:
    """(developers) Autogenerate the next revision in migrations/versions/ from the models."""
    hub_dir = Path(__file__).resolve().parent
    versions = hub_dir / "migrations" / "versions"
    numbers = [int(p.name[:4]) for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py")]
    slug = "_".join(message.lower().split())[:40]
    rev_id = f"{max(numbers, default=0) + 1:04d}_{slug}"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/head.db"
        upgrade(url)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "alembic",
                "-c",
                str(hub_dir / "alembic.ini"),
                "-x",
                f"url={url}",
                "revision",
                "--autogenerate",
                "--rev-id",
                rev_id,
                "-m",
                message,
            ],
            check=True,
        )
    target = versions / f"{rev_id}.py"
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(target)], check=False)
    console.print(f"[green]generated[/green] {target}: read it and adjust before committing")


@app.command("seed-demo")
def seed_demo(
    database_url: UrlOption = None,
    tokens_file: Annotated[
        Path | None, typer.Option(help="Also write the tokens as JSON to this file (0600).")
    ] = None,
) -> None:
    """Create a demo city and district (2 streets x 2 communities), grids, workers, units,
    categories and API tokens (printed once) in a migrated database; create the hub key if there
    is none."""
    settings = settings_from_env(database_url=database_url)
    url = settings.database_url
    _require_schema(url)
    _ensure_key(settings)
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as db_session:
            data = seed(db_session=db_session, clock=SystemClock())
    except ConflictError as exc:
        console.print(f"[yellow]demo data already present[/yellow] ({exc.message})")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    console.print(
        f"seeded {len(data.grids)} grids, {len(data.workers)} workers, "
        f"{len(data.units)} units into {_shown(url)}"
    )
    console.print("API tokens (shown once; use as 'Authorization: Bearer <token>'):")
    for label, secret in data.tokens.items():
        console.print(f"  {label:34} {secret}", soft_wrap=True)
    if tokens_file is not None:
        tokens_file.parent.mkdir(parents=True, exist_ok=True)
        tokens_file.write_text(json.dumps(data.tokens, indent=2) + "\n", encoding="utf-8")
        tokens_file.chmod(0o600)
        console.print(f"tokens written to {tokens_file}")


def _supervision_loop(stop: threading.Event, interval_s: float, settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    clock = SystemClock()
    store = make_media_store(settings)
    accounts = _broker_retry(settings)
    while not stop.wait(interval_s):
        try:
            with session_scope(factory) as db_session:
                run_supervision(db_session=db_session, clock=clock, settings=settings)
        except Exception:  # noqa: BLE001 - keep supervising; the error is logged
            logger.exception("supervision pass failed")
        try:  # firmware rollouts: timeouts, auto pause / advance, the next stage's commands
            with session_scope(factory) as db_session:
                run_ota_supervision(db_session=db_session, clock=clock)
        except Exception:  # noqa: BLE001 - the next pass retries; the error is logged
            logger.exception("ota supervision pass failed")
        try:  # face captures past their retention leave the hub (docs/access.md section 5)
            with session_scope(factory) as db_session:
                purge_face_captures(
                    db_session=db_session, store=store, now=clock.now(), settings=settings
                )
        except Exception:  # noqa: BLE001 - the next pass retries; the error is logged
            logger.exception("face-capture retention pass failed")
        try:  # the weekly statistics of the weeks just finished (docs/assessment.md)
            with session_scope(factory) as db_session:
                run_weekly_stats(db_session=db_session, clock=clock, settings=settings)
        except Exception:  # noqa: BLE001 - the next pass retries; the error is logged
            logger.exception("weekly statistics pass failed")
        try:  # base data, event bodies and access audits past retention (docs/basedata.md)
            with session_scope(factory) as db_session:
                purged = purge_base_data(db_session=db_session, now=clock.now(), settings=settings)
            if purged.total():
                checkpoint_wal(engine)  # the deleted rows' old images out of the WAL too
        except Exception:  # noqa: BLE001 - the next pass retries; the error is logged
            logger.exception("base-data retention pass failed")
        if accounts is not None:  # revoked devices whose broker account is still enabled
            try:
                with session_scope(factory) as db_session:
                    accounts.run(db_session=db_session, clock=clock)
            except Exception:  # noqa: BLE001 - the next pass retries; the error is logged
                logger.exception("broker-account pass failed")
    engine.dispose()


def _broker_retry(settings: Settings) -> BrokerDisableRetry | None:
    """The supervision pass that disables the broker accounts a revocation could not (the
    broker was down); None without broker accounts."""
    if settings.broker_accounts != "dynsec":
        return None
    try:
        return BrokerDisableRetry(broker_admin.for_settings(settings))
    except Exception:  # noqa: BLE001 - supervision goes on without it; said once
        logger.exception("broker accounts cannot be administered: revocations are not retried")
        return None


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising SIGINT / SIGTERM after its own shutdown: that would
    kill the process before ``run`` stops the ingest worker (drain, receipts, hub offline).
    On a stop signal it first ends the live streams, which uvicorn would otherwise wait for."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        app = self.config.app
        if isinstance(app, FastAPI):
            live_api.close_streams(app)
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        stop_signals = (signal.SIGINT, signal.SIGTERM)
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in stop_signals}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="Overrides GRIDLINK_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides GRIDLINK_API_PORT.")] = None,
    database_url: UrlOption = None,
    ingest: Annotated[bool, typer.Option(help="Start the MQTT ingest worker.")] = True,
    supervision_interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 60.0,
    migrate_first: Annotated[
        bool,
        typer.Option(
            "--migrate/--no-migrate",
            help="Run `gridlink hub migrate` first (creates the database if there is none).",
        ),
    ] = False,
) -> None:
    """Serve the API and console (uvicorn), run the ingest worker, deadline supervision and
    the notification sender (docs/notifications.md).

    The database must be migrated (`gridlink hub migrate`, or `--migrate`). SIGTERM or Ctrl-C
    stops the web server, then the ingest worker (it drains its batch, sends the acks and
    receipts, publishes the hub offline) and exits 0.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = settings_from_env(database_url=database_url, api_host=host, api_port=port)
    _check_tls_files(settings)
    if migrate_first:
        _migrate(settings)
    _require_schema(settings.database_url)
    check_media_store(settings)
    _ensure_key(settings)
    clock = SystemClock()
    try:
        handle = runner.start(settings, clock=clock) if ingest else None
    except InvalidInputError as exc:  # hub.mqtt_tls: what the file check cannot see
        raise HubCliError(str(exc)) from None
    stop = threading.Event()
    supervisor = threading.Thread(
        target=_supervision_loop,
        args=(stop, supervision_interval, settings),
        name="supervision",
        daemon=True,
    )
    supervisor.start()
    notify_engine = make_engine(settings.database_url)
    sender = notify_sender.Sender(
        factory=make_session_factory(notify_engine),
        settings=settings,
        clock=clock,
    ).start()
    host, port = settings.api_host, settings.api_port
    console.print(
        f"hub API on http://{host}:{port}  console: http://{host}:{port}/console  "
        f"OpenAPI: http://{host}:{port}/docs"
    )
    web = create_app(
        settings, clock, broker_connected=(lambda: handle.broker_connected) if handle else None
    )
    server = _Server(uvicorn.Config(web, host=host, port=port, log_level="info"))
    privacy_logs.install()  # after the Config: it sets up uvicorn's loggers
    settle_heap()
    try:
        server.run()
    finally:
        stop.set()
        sender.stop()  # the attempt under way is recorded; the rest wait in the outbox
        notify_engine.dispose()
        if handle is not None:
            logger.info("stopping the ingest worker (drain, receipts, hub offline)")
            handle.stop()
        web.state.engine.dispose()
        logger.info("hub stopped")


@app.command("media-bucket")
def media_bucket(
    create: Annotated[
        bool, typer.Option("--create", help="Create the bucket if it does not exist.")
    ] = False,
) -> None:
    """Check that the S3 media bucket (GRIDLINK_MEDIA_STORE=s3) exists and answers; with
    --create, create it first if it is missing (the hub never creates it by itself)."""
    settings = settings_from_env()
    if settings.media_store != "s3":
        raise HubCliError(
            f"GRIDLINK_MEDIA_STORE is {settings.media_store!r}: media live under "
            f"{settings.media_dir}, there is no bucket"
        )
    store = S3BlobStore.from_settings(settings)
    if create and store.create_bucket():
        console.print(f"[green]created[/green] S3 bucket {store.bucket}")
        return
    store.check_bucket()
    console.print(f"S3 bucket {store.bucket} answers (media keys {store.prefix}ab/cd/<sha256>)")


@app.command("weekly-stats")
def weekly_stats(
    week: Annotated[
        str | None,
        typer.Option(help="Recompute this finished ISO week (e.g. 2026-W02), replacing its rows."),
    ] = None,
    database_url: UrlOption = None,
) -> None:
    """Store the weekly statistics now: the weeks due and not stored yet (what `hub run`'s
    supervision loop does), or, with --week, that week again (docs/assessment.md)."""
    settings = settings_from_env(database_url=database_url)
    _require_schema(settings.database_url)
    engine = make_engine(settings.database_url)
    clock = SystemClock()
    try:
        with session_scope(make_session_factory(engine)) as db_session:
            if week is None:
                stored = run_weekly_stats(db_session=db_session, clock=clock, settings=settings)
            else:
                period = assessment_periods.week(week, settings)
                store_week(db_session=db_session, settings=settings, period=period,
                           at=clock.now(), by="system:cli")  # fmt: skip
                stored = [period.label]
    except (InvalidInputError, ConflictError) as exc:
        raise HubCliError(exc.message) from None
    finally:
        engine.dispose()
    console.print(f"weekly statistics stored: {', '.join(stored) or 'none due'}")


@app.command("import")
def import_(
    directory: Annotated[
        Path | None, typer.Argument(help="A directory of onboarding CSV files (any subset).")
    ] = None,
    file: Annotated[
        list[str] | None,
        typer.Option("--file", help="KIND=PATH, e.g. grids=/tmp/g.csv (repeatable)."),
    ] = None,
    tokens_out: Annotated[
        Path | None,
        typer.Option(help="Where the new accounts' tokens go (created 0600, never overwritten)."),
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="Validate and count; write nothing.")] = (
        False
    ),
    show_errors: Annotated[int, typer.Option(min=1, help="Problems printed at most.")] = 100,
    database_url: UrlOption = None,
) -> None:
    """Load areas, categories, grids, units, workers and accounts from CSV files
    (docs/onboarding.md): every row validated first, all or nothing, a re-run changes nothing."""
    url = settings_from_env(database_url=database_url).database_url
    _require_schema(url)
    engine = make_engine(url)
    try:
        status = onboarding.import_files(
            make_session_factory(engine),
            directory=directory,
            files=file or [],
            tokens_out=tokens_out,
            check_only=check,
            show_errors=show_errors,
            clock=SystemClock(),
            console=console,
            errors=Console(stderr=True),
        )
    except onboarding.OnboardingError as exc:
        raise HubCliError(str(exc)) from None
    finally:
        engine.dispose()
    if status:
        raise typer.Exit(status)


@app.command("export")
def export_(
    directory: Annotated[Path, typer.Argument(help="Where the six CSV files go (no old ones).")],
    bom: Annotated[bool, typer.Option(help="Start each file with a UTF-8 BOM (for Excel).")] = (
        False
    ),
    database_url: UrlOption = None,
) -> None:
    """Write the areas, categories, grids, units, workers and accounts back as the import's
    files (no secrets): export, import into an empty hub, export again gives the same files."""
    url = settings_from_env(database_url=database_url).database_url
    _require_schema(url)
    engine = make_engine(url)
    try:
        onboarding.export_files(
            make_session_factory(engine), directory=directory, bom=bom, console=console
        )
    except onboarding.OnboardingError as exc:
        raise HubCliError(str(exc)) from None
    finally:
        engine.dispose()


def _read_password(account: str, what: str = "password") -> str:
    """Twice from the terminal (not echoed), or one line from standard input when it is not a
    terminal (``printf '%s\\n' "$PW" | gridlink hub passwd NAME``); never from argv."""
    if sys.stdin.isatty():
        password: str = typer.prompt(
            f"new {what} for {account}", hide_input=True, confirmation_prompt=True
        )
        return password
    line = sys.stdin.readline()
    if not line:
        raise HubCliError(f"no {what} on standard input (one line expected)")
    return line.removesuffix("\n").removesuffix("\r")


@app.command()
def passwd(
    account: Annotated[str, typer.Argument(help="The account (its API token's name).")],
    database_url: UrlOption = None,
) -> None:
    """Set an account's console password (argon2id), read from a prompt or standard input,
    never from the command line. Lifts a sign-in lock and ends the account's sessions."""
    settings = settings_from_env(database_url=database_url)
    _require_schema(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        factory = make_session_factory(engine)
        with session_scope(factory) as db_session:  # the account first: no prompt in vain
            passwords.account_token(db_session=db_session, account=account)
        password = _read_password(account)
        with session_scope(factory) as db_session:
            passwords.set_password(
                db_session=db_session,
                account=account,
                password=password,
                by=f"cli:{getpass.getuser()}",
                scope_code=None,
                settings=settings,
                clock=SystemClock(),
            )
    except (InvalidInputError, NotFoundError, ConflictError) as exc:
        raise HubCliError(exc.message) from None
    finally:
        engine.dispose()
    console.print(f"password set for {account}; its open sessions ended", markup=False)


@app.command("worker-pin")
def worker_pin(
    worker: Annotated[str, typer.Argument(help="The worker id.")],
    database_url: UrlOption = None,
) -> None:
    """Set a grid worker's PIN (4-8 digits, salted PBKDF2), read from a prompt or standard
    input, never from the command line; the worker's grids' handhelds get it within seconds."""
    settings = settings_from_env(database_url=database_url)
    _require_schema(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        factory = make_session_factory(engine)
        with session_scope(factory) as db_session:  # the worker first: no prompt in vain
            if db_session.get(Worker, worker) is None:
                raise NotFoundError(f"worker {worker} not found")
        pin = _read_password(f"worker {worker}", "PIN")
        with session_scope(factory) as db_session:
            pins.set_pin(db_session=db_session, worker_id=worker, pin=pin,
                         iterations=settings.worker_pin_iterations, clock=SystemClock(),
                         by=f"cli:{getpass.getuser()}")  # fmt: skip
    except (InvalidInputError, NotFoundError) as exc:
        raise HubCliError(exc.message) from None
    finally:
        engine.dispose()
    console.print(f"PIN set for worker {worker}", markup=False)


# `gridlink hub ingest`: ingest workers without the API (the command lives in hub.ingest.cli).
app.command("ingest")(ingest_cli.ingest)
