"""The grid worker's handheld terminal app."""

from apps.handheld.app import Handheld, pin_hash  # noqa: F401
