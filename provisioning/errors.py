"""The provisioning tool's operator errors: each one line; ``gridlink provision`` prints it on
stderr and exits 1 (no traceback unless ``gridlink --debug``)."""

from __future__ import annotations


class ProvisionError(Exception):
    """An operator mistake or an unreachable part (hub, board, file); ``str()`` is one line."""
