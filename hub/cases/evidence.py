"""The closing gate: an on-site photo, taken near the case location, within the verify window;
every blob the closing cites received and hash-checked (stored)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hub.areas.boundaries import place
from hub.areas.models import GridBoundary
from hub.auth.service import Principal
from hub.cases.geo import haversine_m
from hub.cases.models import Case
from hub.errors import EvidenceError, InvalidInputError
from hub.media.service import complete_blobs, visible_blob
from hub.settings import Settings


def blob_shas(blobs: list[dict[str, Any]] | None) -> list[str]:
    return [str(b.get("sha256")) for b in blobs or [] if isinstance(b, dict)]


def require_visible(
    *, db_session: Session, principal: Principal, blobs: list[dict[str, Any]] | None
) -> None:
    """A caller may cite only blobs it can see: else citing a hash would make another area's
    photo visible in the case's area (``InvalidInputError`` ``blob_not_found``)."""
    for sha in dict.fromkeys(blob_shas(blobs)):
        scope = principal.scope_code
        if visible_blob(db_session=db_session, sha256=sha, scope_code=scope) is None:
            raise InvalidInputError(f"blob {sha} not found", code="blob_not_found")


def missing_blobs(*, db_session: Session, blobs: list[dict[str, Any]] | None) -> list[str]:
    """The hashes among ``blobs`` that the hub does not hold complete and checked."""
    shas = blob_shas(blobs)
    stored = complete_blobs(db_session=db_session, shas=shas)
    return [sha for sha in dict.fromkeys(shas) if sha not in stored]


def stored_evidence(
    *, db_session: Session, blobs: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """``blobs`` as the hub stores them (size and type from the blob rows, not the citation),
    or ``EvidenceError`` when one of them is not stored: a closing cites only held bytes."""
    shas = blob_shas(blobs)
    stored = complete_blobs(db_session=db_session, shas=shas)
    missing = [sha for sha in dict.fromkeys(shas) if sha not in stored]
    if missing:
        raise EvidenceError(
            f"blob {missing[0]} is not stored (not received or not hash-checked)",
            missing=missing,
        )
    return [
        {"sha256": sha, "size": stored[sha].size, "mime": stored[sha].mime}
        for sha in dict.fromkeys(shas)
    ]


def check_evidence(
    *,
    case: Case,
    settings: Settings,
    taken_at: datetime,
    loc: dict[str, Any] | None,
    blobs: list[dict[str, Any]] | None,
    boundary: GridBoundary | None = None,
) -> dict[str, Any]:
    """The facts the gate established (for the audit row), or ``EvidenceError``.

    ``boundary``: the case grid's boundary in force; the photo must then be taken inside it
    (on the edge counts, plus ``verify_boundary_margin_m``), as well as near the case, unless the
    case's own point lies outside it."""
    photos = [b for b in blobs or [] if str(b.get("mime", "")).startswith("image/")]
    if not photos:
        raise EvidenceError("closing needs an on-site photo")
    facts: dict[str, Any] = {"photos": [p.get("sha256") for p in photos]}
    lat, lon = (loc or {}).get("lat_e6"), (loc or {}).get("lon_e6")
    if (
        boundary is not None
        and case.lat_e6 is not None
        and case.lon_e6 is not None
        and not place(boundary, case.lat_e6, case.lon_e6).inside
    ):
        # the case itself lies outside its grid (a handheld's report across the street, a
        # named grid no boundary contradicted): the distance rule alone, or it could never close
        facts["boundary_skipped"] = "case outside the boundary"
        boundary = None
    if boundary is not None:
        if not isinstance(lat, int) or not isinstance(lon, int):
            raise EvidenceError("closing needs the verifier's location")
        where = place(boundary, lat, lon)
        facts["boundary_version"] = boundary.version
        facts["outside_boundary_m"] = where.outside_m
        if where.outside_m > settings.verify_boundary_margin_m:
            raise EvidenceError(
                f"verification taken {where.outside_m:.0f} m outside grid "
                f"{boundary.grid_code}'s boundary (version {boundary.version})",
                gate="grid_boundary",
                outside_m=where.outside_m,
            )
    if case.lat_e6 is not None and case.lon_e6 is not None:
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
