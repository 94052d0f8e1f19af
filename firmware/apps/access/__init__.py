"""The door access controller app (card / QR reader, keypad, exit button)."""

from apps.access.app import Access  # noqa: F401
