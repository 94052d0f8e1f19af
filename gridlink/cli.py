"""The ``gridlink`` command: one root app; each area mounts its own sub-app."""

from __future__ import annotations

import typer

from hub.cli import app as hub_app
from simulator.cli import app as sim_app

app = typer.Typer(help="Gridlink: city grid governance tools.", no_args_is_help=True)
app.add_typer(hub_app, name="hub")
app.add_typer(sim_app, name="sim")

if __name__ == "__main__":
    app()
