"""The hub's own exceptions. Services raise these; only API modules map them to HTTP."""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    """Base of every domain error; ``code`` is a short stable machine-readable string."""

    code = "hub_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class NotFoundError(HubError):
    code = "not_found"


class InvalidInputError(HubError):
    code = "invalid_input"


class ConflictError(HubError):
    code = "conflict"


class AuthenticationError(HubError):
    code = "unauthenticated"


class PermissionDeniedError(HubError):
    code = "forbidden"


class BusyError(HubError):
    """The hub is at a limit it sets on purpose (e.g. concurrent password checks): retry later."""

    code = "busy"
    retry_after_s = 1


class TooLargeError(HubError):
    """A request body over the size an endpoint accepts."""

    code = "too_large"


class TransitionError(HubError):
    """A case transition that the workflow does not allow from the case's current state."""

    code = "invalid_transition"


class EvidenceError(HubError):
    """Closing evidence (photo, location, time) does not satisfy the verification gate."""

    code = "insufficient_evidence"
