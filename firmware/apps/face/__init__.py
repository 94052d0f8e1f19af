"""The face recognition terminal app (face module, capture camera, card / PIN fallback)."""

from apps.face.app import Face  # noqa: F401
