"""The closing gate: an on-site photo, taken near the case location, within the verify window."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.cases.geo import haversine_m
from hub.cases.models import Case
from hub.errors import EvidenceError
from hub.settings import Settings


def check_evidence(
    *,
    case: Case,
    settings: Settings,
    taken_at: datetime,
    loc: dict[str, Any] | None,
    blobs: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """The facts the gate established (for the audit row), or ``EvidenceError``."""
    photos = [b for b in blobs or [] if str(b.get("mime", "")).startswith("image/")]
    if not photos:
        raise EvidenceError("closing needs an on-site photo")
    facts: dict[str, Any] = {"photos": [p.get("sha256") for p in photos]}
    if case.lat_e6 is not None and case.lon_e6 is not None:
        lat, lon = (loc or {}).get("lat_e6"), (loc or {}).get("lon_e6")
        if not isinstance(lat, int) or not isinstance(lon, int):
            raise EvidenceError("closing needs the verifier's location")
        distance = haversine_m(case.lat_e6, case.lon_e6, lat, lon)
        facts["distance_m"] = round(distance, 1)
        if distance > settings.verify_distance_m:
            raise EvidenceError(
                f"verification taken {distance:.0f} m from the case location "
                f"(limit {settings.verify_distance_m:.0f} m)",
                distance_m=round(distance, 1),
            )
    if case.verify_requested_at is not None:
        lag = (taken_at - case.verify_requested_at).total_seconds()
        facts["seconds_after_request"] = int(lag)
        if lag > settings.verify_window_s or lag < -300:
            raise EvidenceError(
                f"verification taken {int(lag)} s after the request "
                f"(window {settings.verify_window_s} s)"
            )
    return facts
