"""Distances between WGS-84 points given in integer micro-degrees."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1_e6: int, lon1_e6: int, lat2_e6: int, lon2_e6: int) -> float:
    """Great-circle distance in metres between two points in micro-degrees."""
    lat1, lon1 = math.radians(lat1_e6 / 1e6), math.radians(lon1_e6 / 1e6)
    lat2, lon2 = math.radians(lat2_e6 / 1e6), math.radians(lon2_e6 / 1e6)
    a = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def degrees_e6_for_metres(metres: float, lat_e6: int = 0) -> tuple[int, int]:
    """A (lat, lon) half-width in micro-degrees that bounds a circle of ``metres`` (for SQL)."""
    dlat = metres / 111_320.0
    coslat = max(0.01, math.cos(math.radians(lat_e6 / 1e6)))
    dlon = metres / (111_320.0 * coslat)
    return int(dlat * 1e6) + 1, int(dlon * 1e6) + 1
