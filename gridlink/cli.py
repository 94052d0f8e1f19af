"""The ``gridlink`` command: one root app, each area mounts its own sub-app."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="Gridlink: city grid governance tools.", no_args_is_help=True)

# (module path, attribute, sub-command name): each area owns its CLI module.
_SUBAPPS = [
    ("hub.cli", "app", "hub"),
    ("simulator.cli", "app", "sim"),
    ("provisioning.cli", "app", "provision"),
]

for _module, _attr, _name in _SUBAPPS:
    try:
        _sub = getattr(importlib.import_module(_module), _attr)
    except ModuleNotFoundError as exc:  # an area not built yet
        if exc.name != _module:
            raise
        continue
    app.add_typer(_sub, name=_name)
if __name__ == "__main__":
    app()
