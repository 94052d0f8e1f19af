"""PLACEHOLDER (engineer P) so ``gridlink provision ca`` imports until engineer T's cli_ca
lands; T's file replaces this one at merge."""

import typer

app = typer.Typer(help="The CA and TLS certificates (engineer T's branch).")
