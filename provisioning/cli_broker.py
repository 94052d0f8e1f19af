"""PLACEHOLDER (engineer P) so ``gridlink provision broker`` imports until engineer B's
cli_broker lands; B's file replaces this one at merge."""

import typer

app = typer.Typer(help="The locked-down Mosquitto configuration (engineer B's branch).")
