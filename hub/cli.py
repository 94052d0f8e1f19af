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
from rich.console import Console

from hub.settings import get_settings

app = typer.Typer(help="The Gridlink hub: API, console, ingest, workflow.", no_args_is_help=True)
console = Console()
logger = logging.getLogger(__name__)

UrlOption = Annotated[
    str | None, typer.Option("--database-url", help="Overrides GRIDLINK_DATABASE_URL.")
]


@app.command()
def migrate(database_url: UrlOption = None) -> None:
    """Upgrade the database schema to the newest revision (alembic upgrade head)."""
    from hub.migrations.runner import upgrade

    url = database_url or get_settings().database_url
    with console.status(f"migrating {url} ..."):
        upgrade(url)
    console.print(f"[green]database at head[/green]: {url}")


@app.command("regen-migration", hidden=True)
def regen_migration() -> None:
    """(developers) Regenerate migrations/versions/0001_initial.py from every model."""
    hub_dir = Path(__file__).resolve().parent
    target = hub_dir / "migrations" / "versions" / "0001_initial.py"
    target.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/empty.db"
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
                "0001_initial",
                "-m",
                "initial",
            ],
            check=True,
        )
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(target)], check=False)
    console.print(f"[green]regenerated[/green] {target}")


@app.command("seed-demo")
def seed_demo(
    database_url: UrlOption = None,
    tokens_file: Annotated[
        Path | None, typer.Option(help="Also write the tokens as JSON to this file (0600).")
    ] = None,
) -> None:
    """Migrate, then create a demo district (2 streets x 2 communities), grids, workers,
    units, categories and API tokens (printed once)."""
    from hub.db import make_engine, make_session_factory, session_scope
    from hub.errors import ConflictError
    from hub.migrations.runner import upgrade
    from hub.seed import seed_demo as seed

    url = database_url or get_settings().database_url
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as db_session:
            data = seed(db_session=db_session)
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


def _supervision_loop(stop: threading.Event, interval_s: float) -> None:
    from hub.cases.flows.supervision import run_supervision
    from hub.clock import SystemClock
    from hub.db import make_engine, make_session_factory, session_scope

    settings = get_settings()
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    while not stop.wait(interval_s):
        try:
            with session_scope(factory) as db_session:
                run_supervision(db_session=db_session, clock=SystemClock(), settings=settings)
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
    import uvicorn

    from hub.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = get_settings()
    if migrate_first:
        from hub.migrations.runner import upgrade

        upgrade(settings.database_url)
    handle = None
    if ingest:
        try:
            from hub.ingest import runner
        except ModuleNotFoundError as exc:
            if exc.name not in ("hub.ingest", "hub.ingest.runner"):
                raise
            console.print("[yellow]hub.ingest is not installed: API only[/yellow]")
        else:
            handle = runner.start(settings)
    stop = threading.Event()
    supervisor = threading.Thread(
        target=_supervision_loop, args=(stop, supervision_interval), name="supervision", daemon=True
    )
    supervisor.start()
    host, port = host or settings.api_host, port or settings.api_port
    console.print(
        f"hub API on http://{host}:{port}  console: http://{host}:{port}/console  "
        f"OpenAPI: http://{host}:{port}/docs"
    )
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    finally:
        stop.set()
        if handle is not None:
            handle.stop()


def _mount_ingest() -> None:
    """`gridlink hub ingest`: ingest workers without the API (hub.ingest owns the command)."""
    from hub.ingest.cli import ingest

    app.command("ingest")(ingest)


_mount_ingest()
