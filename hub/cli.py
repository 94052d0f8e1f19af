"""``gridlink hub ...``: run the hub, migrate its database, seed demo data."""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
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
