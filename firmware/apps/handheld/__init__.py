"""The grid worker's handheld terminal app."""

from apps.handheld.app import Handheld  # noqa: F401
