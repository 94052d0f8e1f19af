"""Text for the cells of an exported file that a spreadsheet must never run as a formula."""

from __future__ import annotations

from typing import Any

# what a spreadsheet reads as the start of a formula (OWASP "CSV injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: Any) -> str:
    """``value`` as a cell's text, with a leading ``'`` when it would start a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.lstrip(" ").startswith(FORMULA_START) else text
