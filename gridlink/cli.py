"""The ``gridlink`` command: one root app; each area mounts its own sub-app.

Operator errors from any subcommand are one line on stderr and exit 1 (``gridlink.errors``);
``gridlink --debug ...`` shows their traceback.
"""

from __future__ import annotations

import typer

from gridlink.errors import OperatorErrorGroup
from hub.cli import app as hub_app
from provisioning.cli import app as provision_app
from simulator.cli import app as sim_app

app = typer.Typer(
    cls=OperatorErrorGroup, help="Gridlink: city grid governance tools.", no_args_is_help=True
)
app.add_typer(hub_app, name="hub")
app.add_typer(sim_app, name="sim")
app.add_typer(provision_app, name="provision")


@app.callback()
def main(
    debug: bool = typer.Option(
        False, "--debug", envvar="GRIDLINK_DEBUG", help="Show the traceback of operator errors."
    ),
) -> None:
    """Gridlink: city grid governance tools."""


if __name__ == "__main__":
    app()
