"""Operator errors at the ``gridlink`` command's boundary: one line on stderr, exit 1.

A bad database URL, an unreachable database or broker, a missing database file, a setting that
does not parse: the exception types below become one line naming what to fix. Anything else is
a bug and keeps its traceback; ``gridlink --debug ...`` (or ``GRIDLINK_DEBUG=1``) shows the
traceback for these too.
"""

from __future__ import annotations

from typing import Any

import click
import typer
from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError, DBAPIError
from typer.core import TyperGroup

from hub.broker_admin import BrokerAdminError
from hub.cli import HubCliError
from hub.db import DatabaseMissingError
from hub.ingest.worker import IngestError
from hub.keys import HubKeyError

EXIT_OPERATOR_ERROR = 1


def _first_line(value: object) -> str:
    lines = str(value).strip().splitlines()
    return lines[0].strip() if lines else type(value).__name__


def _settings_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        loc = err.get("loc") or ()
        parts.append(f"GRIDLINK_{str(loc[0]).upper()}: {msg}" if loc else msg)
    return "invalid settings: " + "; ".join(parts)


def describe(exc: BaseException) -> str | None:
    """The one line for an operator error, or ``None`` for an exception that is a bug."""
    if isinstance(exc, ValidationError):
        if exc.title == "Settings":
            return _settings_message(exc)
        return f"invalid {exc.title}: {_first_line(exc.errors()[0]['msg'])}"
    if isinstance(exc, HubCliError | DatabaseMissingError | IngestError | HubKeyError):
        return str(exc)
    if isinstance(exc, BrokerAdminError):
        return str(exc)
    if isinstance(exc, ArgumentError):
        return f"bad database URL: {_first_line(exc)}"
    if isinstance(exc, DBAPIError):  # OperationalError (unreachable, refused), ProgrammingError...
        return f"database error: {_first_line(exc.orig)}"
    if isinstance(exc, OSError):
        return _first_line(exc)
    if isinstance(exc, ValueError):
        return _first_line(exc)
    return None


class OperatorErrorGroup(TyperGroup):
    """The root group: translates operator errors raised by any subcommand (see ``describe``)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = describe(exc)
            if message is None or ctx.params.get("debug"):
                raise
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(EXIT_OPERATOR_ERROR) from None
