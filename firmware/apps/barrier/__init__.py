"""The vehicle barrier app (plate camera, barrier arm with its loop, card fallback)."""

from apps.barrier.app import Barrier  # noqa: F401
