"""The OTA domain's errors. Their API bodies carry ``detail`` (the message) beside the
hub's usual ``code`` and ``message`` (docs/ota.md, "API")."""

from __future__ import annotations

from hub.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError


class OtaError(Exception):
    """Marks an OTA error (mixed into a HubError class)."""


class OtaNotConfiguredError(OtaError, ConflictError):
    code = "ota_not_configured"


class BundleRejectedError(OtaError, InvalidInputError):
    """A bundle file the hub refuses; ``code`` is the BundleError reason (bad_file...)."""


class OtaInvalidError(OtaError, InvalidInputError):
    pass


class OtaNotFoundError(OtaError, NotFoundError):
    pass


class OtaConflictError(OtaError, ConflictError):
    pass


class OtaPermissionError(OtaError, PermissionDeniedError):
    pass
