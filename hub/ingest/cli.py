"""``gridlink hub ingest``: run ingest workers without the API (scale-out on more machines).

``hub/cli.py`` mounts it with ``app.command("ingest")(ingest_cli.ingest)``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.engine import make_url

from hub import mqtt_tls
from hub.clock import SystemClock
from hub.db import require_database
from hub.errors import InvalidInputError
from hub.ingest import runner
from hub.ingest.worker import IngestError
from hub.media.factory import check_media_store
from hub.settings import Settings

console = Console()


def ingest(
    workers: Annotated[int, typer.Option(min=1, max=32, help="MQTT connections (threads).")] = 1,
    stats_interval: Annotated[float, typer.Option(help="Seconds between progress lines.")] = 30.0,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Overrides GRIDLINK_DATABASE_URL.")
    ] = None,
) -> None:
    """Verify and store device messages from the broker (MQTT v5 shared subscription).

    The database must exist (`gridlink hub migrate` creates it). SIGTERM or Ctrl-C stops the
    workers (drain, receipts, hub offline) and exits 0.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    overrides: dict[str, Any] = {"database_url": database_url} if database_url else {}
    settings = Settings(**overrides)
    require_database(settings.database_url)
    check_media_store(settings)  # a missing or silent S3 bucket: one line, before connecting
    if settings.mqtt_tls:  # a TLS file it cannot use: one line naming the setting
        try:
            mqtt_tls.check_files(
                settings.mqtt_tls_ca, settings.mqtt_tls_cert, settings.mqtt_tls_key
            )
        except InvalidInputError as exc:
            raise IngestError(str(exc)) from None
    with console.status(f"connecting to {settings.mqtt_host}:{settings.mqtt_port} ..."):
        handle = runner.start(settings, workers=workers, clock=SystemClock())
    console.print(
        f"[green]ingest running[/green]: {workers} worker(s) on "
        f"{settings.mqtt_host}:{settings.mqtt_port}, database "
        f"{make_url(settings.database_url).render_as_string(hide_password=True)}"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(stats_interval):
            totals = [w.stats for w in handle.workers]
            console.print(
                time.strftime("%H:%M:%S"),
                f"stored={sum(s.stored for s in totals)}",
                f"duplicates={sum(s.duplicates for s in totals)}",
                f"rejected={sum(s.rejected for s in totals)}",
                f"chunks={sum(s.chunks for s in totals)}",
            )
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
        console.print("ingest stopped")
