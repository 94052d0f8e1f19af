"""The grid worker's handheld terminal app."""

from apps.handheld.app import VERSION, Handheld, pin_hash  # noqa: F401
