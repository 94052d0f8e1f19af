"""``gridlink hub ...``: run the hub, migrate its database, seed demo data."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from hub import keys
from hub.app import create_app
from hub.cases.flows.supervision import run_supervision
from hub.clock import SystemClock
from hub.db import make_engine, make_session_factory, session_scope
from hub.errors import ConflictError
from hub.ingest import cli as ingest_cli
from hub.ingest import runner
from hub.migrations.runner import upgrade
from hub.seed import seed_demo as seed
from hub.settings import Settings, get_settings

app = typer.Typer(help="The Gridlink hub: API, console, ingest, workflow.", no_args_is_help=True)
console = Console()
logger = logging.getLogger(__name__)

UrlOption = Annotated[
    str | None, typer.Option("--database-url", help="Overrides GRIDLINK_DATABASE_URL.")
]


@app.command()
def migrate(database_url: UrlOption = None) -> None:
    """Upgrade the database schema to the newest revision (alembic upgrade head); create the
    hub key if there is none."""
    settings = get_settings()
    url = database_url or settings.database_url
    with console.status(f"migrating {url} ..."):
        upgrade(url)
    console.print(f"[green]database at head[/green]: {url}")
    _ensure_key(settings)


@app.command()
def key() -> None:
    """Create the hub's command key if there is none; print its public half."""
    _ensure_key(get_settings())


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
    """Migrate, then create a demo district (2 streets x 2 communities), grids, workers,
    units, categories and API tokens (printed once); create the hub key if there is none."""
    settings = get_settings()
    url = database_url or settings.database_url
    upgrade(url)
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
        f"{len(data.units)} units into {url}"
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
    while not stop.wait(interval_s):
        try:
            with session_scope(factory) as db_session:
                run_supervision(db_session=db_session, clock=clock, settings=settings)
        except Exception:  # noqa: BLE001 - keep supervising; the error is logged
            logger.exception("supervision pass failed")
    engine.dispose()


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="Overrides GRIDLINK_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides GRIDLINK_API_PORT.")] = None,
    ingest: Annotated[bool, typer.Option(help="Start the MQTT ingest worker.")] = True,
    supervision_interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 60.0,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate")] = True,
) -> None:
    """Serve the API and console (uvicorn), run the ingest worker and deadline supervision."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = get_settings()
    if migrate_first:
        upgrade(settings.database_url)
    _ensure_key(settings)
    clock = SystemClock()
    handle = runner.start(settings, clock=clock) if ingest else None
    stop = threading.Event()
    supervisor = threading.Thread(
        target=_supervision_loop,
        args=(stop, supervision_interval, settings),
        name="supervision",
        daemon=True,
    )
    supervisor.start()
    host, port = host or settings.api_host, port or settings.api_port
    console.print(
        f"hub API on http://{host}:{port}  console: http://{host}:{port}/console  "
        f"OpenAPI: http://{host}:{port}/docs"
    )
    try:
        uvicorn.run(create_app(settings, clock), host=host, port=port, log_level="info")
    finally:
        stop.set()
        if handle is not None:
            handle.stop()


# `gridlink hub ingest`: ingest workers without the API (the command lives in hub.ingest.cli).
app.command("ingest")(ingest_cli.ingest)
