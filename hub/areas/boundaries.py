"""Grid boundaries: GeoJSON polygons, versioned, changed only by approval, and the point
lookups that use them (which grid holds a point; is a point inside a grid).

Geometry is Shapely (GEOS): validity (no self-intersection, closed rings), containment and
overlap are its, not ours. Coordinates are WGS-84 degrees ``[lon, lat]`` as GeoJSON has them;
lengths and areas are in metres on a local equirectangular projection around the polygon,
which is exact enough at the size of a grid (a few square kilometres at most).

Rules:
- every change through the API is a *proposal*; it is in force only once an admin other than
  its proposer approves it (the version before it is then *superseded*);
- one proposal per grid at a time;
- a boundary may share edges with its neighbours but not overlap them (more than
  ``OVERLAP_TOLERANCE_M2``), checked when proposed and again when approved;
- an import (``gridlink hub import`` with ``grids.geojson``) gives a grid without a boundary
  its first one at once (the grid is being coded); a changed boundary of a grid that has one is
  filed as a proposal like any other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.areas.models import Area, BoundaryStatus, Grid, GridBoundary
from hub.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError

MAX_VERTICES = 5000  # per boundary: a grid is a few hundred metres of streets, not a coastline
OVERLAP_TOLERANCE_M2 = 1.0  # shared edges digitised twice never line up to the millimetre
_M_PER_DEG = 111_320.0


def _local(lat0: float) -> tuple[float, float]:
    """Metres per degree of longitude and latitude around latitude ``lat0``."""
    return _M_PER_DEG * max(0.01, math.cos(math.radians(lat0))), 110_574.0


def _project(geom: BaseGeometry, lat0: float) -> BaseGeometry:
    kx, ky = _local(lat0)
    return shapely.transform(geom, lambda xy: xy * [kx, ky])


def area_m2(geom: BaseGeometry) -> float:
    return float(_project(geom, geom.centroid.y).area)


def parse_geometry(obj: Any) -> Polygon | MultiPolygon:
    """A GeoJSON geometry (or a Feature holding one) as a valid polygon, or
    ``InvalidInputError`` saying what is wrong with it."""
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        obj = obj.get("geometry")
    if not isinstance(obj, dict) or obj.get("type") not in ("Polygon", "MultiPolygon"):
        kind = obj.get("type") if isinstance(obj, dict) else type(obj).__name__
        raise InvalidInputError(f"a grid boundary is a GeoJSON Polygon or MultiPolygon, not {kind}")
    coords = obj.get("coordinates")
    count = _check_positions(coords, 3 if obj["type"] == "MultiPolygon" else 2)
    if count > MAX_VERTICES:
        raise InvalidInputError(f"a grid boundary has at most {MAX_VERTICES} vertices ({count})")
    try:
        geom = shape(obj)
    except (ValueError, TypeError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise InvalidInputError(f"not a GeoJSON polygon: {exc}") from None
    if not isinstance(geom, Polygon | MultiPolygon) or geom.is_empty:
        raise InvalidInputError("a grid boundary must not be empty")
    if not geom.is_valid:
        raise InvalidInputError(f"the boundary is not a valid polygon: {explain_validity(geom)}")
    if area_m2(geom) < 1.0:
        raise InvalidInputError("the boundary encloses no area")
    return geom


def _check_positions(coords: Any, depth: int) -> int:
    """Positions nested ``depth`` lists deep, each ``[lon, lat]`` in range; rings of at least 4
    positions, closed. Returns the vertex count."""
    if not isinstance(coords, list) or not coords:
        raise InvalidInputError("boundary coordinates must be a non-empty list of rings")
    if depth > 2:
        return sum(_check_positions(c, depth - 1) for c in coords)
    count = 0
    for ring in coords:
        if not isinstance(ring, list) or len(ring) < 4:
            raise InvalidInputError("each ring of a boundary has at least 4 positions")
        for pos in ring:
            if (
                not isinstance(pos, list)
                or len(pos) not in (2, 3)
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos)
                or not all(-1e4 < v < 1e4 for v in pos)  # a huge int is no float (OverflowError)
                or not all(math.isfinite(v) for v in pos)
            ):
                raise InvalidInputError(f"a position is [longitude, latitude], not {pos!r}"[:200])
            if not (-180.0 <= pos[0] <= 180.0 and -90.0 <= pos[1] <= 90.0):
                raise InvalidInputError(
                    f"position {pos!r} is out of range: GeoJSON is [longitude, latitude]"[:200]
                )
        if ring[0][:2] != ring[-1][:2]:
            raise InvalidInputError("each ring of a boundary is closed (its last position = first)")
        count += len(ring)
    return count


def _stored(geom: Polygon | MultiPolygon) -> dict[str, Any]:
    """The GeoJSON kept: the positions as given, in 2-D."""
    return dict(mapping(shapely.force_2d(geom)))


def _geom(row: GridBoundary) -> Polygon | MultiPolygon:
    geom = shape(row.geometry)
    assert isinstance(geom, Polygon | MultiPolygon)
    return geom


@dataclass(frozen=True)
class Overlap:
    grid_code: str
    area_m2: float


def overlaps(*, db_session: Session, geom: Polygon | MultiPolygon, grid_code: str) -> list[Overlap]:
    """Other grids' boundaries in force that ``geom`` overlaps by more than the tolerance."""
    minx, miny, maxx, maxy = geom.bounds
    rows = db_session.scalars(
        select(GridBoundary).where(
            GridBoundary.status == BoundaryStatus.approved.value,
            GridBoundary.grid_code != grid_code,
            GridBoundary.min_lat_e6 <= _ceil_e6(maxy),
            GridBoundary.max_lat_e6 >= _floor_e6(miny),
            GridBoundary.min_lon_e6 <= _ceil_e6(maxx),
            GridBoundary.max_lon_e6 >= _floor_e6(minx),
        )
    )
    out = []
    for row in rows:
        shared = geom.intersection(_geom(row))
        size = area_m2(shared) if not shared.is_empty else 0.0
        if size > OVERLAP_TOLERANCE_M2:
            out.append(Overlap(row.grid_code, round(size, 1)))
    return out


def _floor_e6(degrees: float) -> int:
    return math.floor(degrees * 1e6)


def _ceil_e6(degrees: float) -> int:
    return math.ceil(degrees * 1e6)


def _refuse_overlaps(db_session: Session, geom: Polygon | MultiPolygon, grid_code: str) -> None:
    found = overlaps(db_session=db_session, geom=geom, grid_code=grid_code)
    if found:
        names = ", ".join(f"{o.grid_code} ({o.area_m2:.0f} m²)" for o in found[:5])
        raise ConflictError(
            f"the boundary of grid {grid_code} overlaps grid {names}",
            code="boundary_overlap",
            grids=[o.grid_code for o in found],
        )


def lock(db_session: Session, grid_code: str) -> None:
    """Serialise boundary changes in the grid's district for the rest of the transaction:
    proposals, approvals and rejections of one grid (its next version number, its one version
    in force) and of its neighbours (the overlap check) never interleave. On SQLite a no-op
    UPDATE takes the database's write lock; elsewhere the district's row is locked."""
    district = grid_code[:6]
    if db_session.get_bind().dialect.name == "sqlite":
        db_session.execute(
            update(Area)
            .where(Area.code == district)
            .values(name=Area.name)
            .execution_options(synchronize_session=False)
        )
    db_session.execute(select(Area.code).where(Area.code == district).with_for_update())


def current(*, db_session: Session, grid_code: str) -> GridBoundary | None:
    return db_session.scalar(
        select(GridBoundary)
        .where(
            GridBoundary.grid_code == grid_code,
            GridBoundary.status == BoundaryStatus.approved.value,
        )
        .execution_options(populate_existing=True)
    )


def versions(*, db_session: Session, grid_code: str) -> list[GridBoundary]:
    return list(
        db_session.scalars(
            select(GridBoundary)
            .where(GridBoundary.grid_code == grid_code)
            .order_by(GridBoundary.version.desc())
        )
    )


def get_version(*, db_session: Session, grid_code: str, version: int) -> GridBoundary:
    row = db_session.scalar(
        select(GridBoundary).where(
            GridBoundary.grid_code == grid_code, GridBoundary.version == version
        )
    )
    if row is None:
        raise NotFoundError(f"grid {grid_code} has no boundary version {version}")
    return row


def _new_row(
    db_session: Session, grid: Grid, geom: Polygon | MultiPolygon, *, actor: str, at: datetime,
    reason: str | None, source: str, status: BoundaryStatus,
) -> GridBoundary:  # fmt: skip
    last = db_session.scalar(
        select(GridBoundary.version)
        .where(GridBoundary.grid_code == grid.code)
        .order_by(GridBoundary.version.desc())
        .limit(1)
    )
    minx, miny, maxx, maxy = geom.bounds
    row = GridBoundary(
        grid_code=grid.code,
        version=(last or 0) + 1,
        geometry=_stored(geom),
        min_lat_e6=_floor_e6(miny),
        max_lat_e6=_ceil_e6(maxy),
        min_lon_e6=_floor_e6(minx),
        max_lon_e6=_ceil_e6(maxx),
        area_m2=round(area_m2(geom), 1),
        status=status.value,
        source=source,
        reason=reason,
        proposed_by=actor,
        proposed_at=at,
    )
    db_session.add(row)
    db_session.flush()
    return row


def pending(*, db_session: Session, grid_code: str) -> GridBoundary | None:
    return db_session.scalar(
        select(GridBoundary)
        .where(
            GridBoundary.grid_code == grid_code,
            GridBoundary.status == BoundaryStatus.proposed.value,
        )
        .execution_options(populate_existing=True)
    )


def propose(
    *, db_session: Session, grid: Grid, geometry: Any, actor: str, at: datetime,
    reason: str | None, source: str = "api",
) -> GridBoundary:  # fmt: skip
    """File a boundary change for approval. ``InvalidInputError`` for a bad polygon,
    ``ConflictError`` (``boundary_pending``, ``boundary_overlap``, ``boundary_unchanged``)."""
    return _file(db_session, grid, parse_geometry(geometry), actor=actor, at=at, reason=reason,
                 source=source)  # fmt: skip


def _file(
    db_session: Session, grid: Grid, geom: Polygon | MultiPolygon, *, actor: str, at: datetime,
    reason: str | None, source: str,
) -> GridBoundary:  # fmt: skip
    lock(db_session, grid.code)
    waiting = pending(db_session=db_session, grid_code=grid.code)
    if waiting is not None:
        raise ConflictError(
            f"grid {grid.code} already has boundary version {waiting.version} awaiting "
            "approval: approve or reject it first",
            code="boundary_pending",
        )
    now_in_force = current(db_session=db_session, grid_code=grid.code)
    if now_in_force is not None and _geom(now_in_force).equals(geom):
        raise ConflictError(
            f"grid {grid.code}'s boundary version {now_in_force.version} is already that polygon",
            code="boundary_unchanged",
        )
    _refuse_overlaps(db_session, geom, grid.code)
    return _new_row(db_session, grid, geom, actor=actor, at=at, reason=reason, source=source,
                    status=BoundaryStatus.proposed)  # fmt: skip


def _put_in_force(db_session: Session, grid: Grid, row: GridBoundary) -> None:
    old = current(db_session=db_session, grid_code=grid.code)
    if old is not None:
        old.status = BoundaryStatus.superseded.value
        db_session.flush()  # one approved row per grid at any time
    row.status = BoundaryStatus.approved.value
    grid.boundary_version = row.version
    if grid.lat_e6 is None or grid.lon_e6 is None:  # a reference point inside the polygon
        point = _geom(row).representative_point()
        grid.lat_e6, grid.lon_e6 = round(point.y * 1e6), round(point.x * 1e6)


def account(actor: str) -> str:
    """The account behind an actor string (``role:name``; an import's ``import:<user>``): the
    same account under another role is still the proposer."""
    return actor.partition(":")[2] or actor


def approve(
    *, db_session: Session, grid: Grid, row: GridBoundary, actor: str, at: datetime,
    note: str | None,
) -> GridBoundary:  # fmt: skip
    """Put a proposal in force: the approver is not its proposer (four eyes)."""
    lock(db_session, grid.code)
    db_session.refresh(row)  # read afresh under the lock: a concurrent decision is seen
    if row.status != BoundaryStatus.proposed:
        raise ConflictError(f"boundary version {row.version} of grid {grid.code} is {row.status}")
    if account(row.proposed_by) == account(actor):
        raise PermissionDeniedError(
            f"{actor} proposed boundary version {row.version}: another admin approves it",
            code="four_eyes",
        )
    _refuse_overlaps(db_session, _geom(row), grid.code)  # a neighbour may have changed since
    row.decided_by, row.decided_at, row.decision_note = actor, at, note
    _put_in_force(db_session, grid, row)
    db_session.flush()
    return row


def reject(
    *, db_session: Session, grid: Grid, row: GridBoundary, actor: str, at: datetime,
    note: str | None,
) -> GridBoundary:  # fmt: skip
    lock(db_session, grid.code)
    db_session.refresh(row)
    if row.status != BoundaryStatus.proposed:
        raise ConflictError(f"boundary version {row.version} of grid {grid.code} is {row.status}")
    row.status = BoundaryStatus.rejected.value
    row.decided_by, row.decided_at, row.decision_note = actor, at, note
    db_session.flush()
    return row


def imported(
    *, db_session: Session, grid: Grid, geom: Polygon | MultiPolygon, actor: str, at: datetime
) -> str:
    """An imported boundary: ``"created"`` (the grid's first, in force now), ``"proposed"``
    (a change, awaiting approval), or ``"unchanged"``. Raises as ``propose`` does."""
    lock(db_session, grid.code)
    in_force = current(db_session=db_session, grid_code=grid.code)
    if in_force is not None and _geom(in_force).equals(geom):
        return "unchanged"
    waiting = pending(db_session=db_session, grid_code=grid.code)
    if waiting is not None and _geom(waiting).equals(geom):
        return "unchanged"
    if in_force is None and waiting is None:
        _refuse_overlaps(db_session, geom, grid.code)
        row = _new_row(db_session, grid, geom, actor=actor, at=at, reason="import",
                       source="import", status=BoundaryStatus.proposed)  # fmt: skip
        row.decided_by, row.decided_at, row.decision_note = actor, at, "first boundary, imported"
        _put_in_force(db_session, grid, row)
        db_session.flush()
        return "created"
    _file(db_session, grid, geom, actor=actor, at=at, reason="import", source="import")
    return "proposed"


# --- point lookups --------------------------------------------------------------------------


def _candidates(db_session: Session, lat_e6: int, lon_e6: int) -> Iterable[GridBoundary]:
    return db_session.scalars(
        select(GridBoundary)
        .where(
            GridBoundary.status == BoundaryStatus.approved.value,
            GridBoundary.min_lat_e6 <= lat_e6,
            GridBoundary.max_lat_e6 >= lat_e6,
            GridBoundary.min_lon_e6 <= lon_e6,
            GridBoundary.max_lon_e6 >= lon_e6,
        )
        .order_by(GridBoundary.grid_code)
    )


def grid_at(*, db_session: Session, lat_e6: int, lon_e6: int) -> str | None:
    """The grid whose boundary in force holds the point (on a shared edge: the lower code)."""
    point = Point(lon_e6 / 1e6, lat_e6 / 1e6)
    for row in _candidates(db_session, lat_e6, lon_e6):
        if _geom(row).covers(point):
            return row.grid_code
    return None


@dataclass(frozen=True)
class Placement:
    inside: bool
    outside_m: float  # 0 inside; else the distance to the boundary


def place(row: GridBoundary, lat_e6: int, lon_e6: int) -> Placement:
    """Where a point lies against a boundary (on the edge counts as inside)."""
    geom = _geom(row)
    point = Point(lon_e6 / 1e6, lat_e6 / 1e6)
    if geom.covers(point):
        return Placement(True, 0.0)
    lat0 = lat_e6 / 1e6
    distance = _project(geom, lat0).distance(_project(point, lat0))
    return Placement(False, round(float(distance), 1))


def feature(row: GridBoundary, name: str | None = None) -> dict[str, Any]:
    """The version as a GeoJSON Feature (its facts in ``properties``)."""
    return {
        "type": "Feature",
        "geometry": row.geometry,
        "properties": {
            "code": row.grid_code,
            "name": name,
            "version": row.version,
            "status": row.status,
            "area_m2": row.area_m2,
            "source": row.source,
            "reason": row.reason,
            "proposed_by": row.proposed_by,
            "proposed_at": row.proposed_at.isoformat(),
            "decided_by": row.decided_by,
            "decided_at": row.decided_at.isoformat() if row.decided_at else None,
            "decision_note": row.decision_note,
        },
    }
