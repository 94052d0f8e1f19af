"""Administrative units (city -> district / county -> street / township -> community), grids,
grid workers, units.

Codes are natural keys: a city is 4 digits, a district or county 6, a street or township 9, a
community (or village) 12 and a grid 14 (the unified unit-grid code), so "everything inside
this area" is a code-prefix match (``hub.levels``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, UTCDateTime
from hub.levels import GRID_CODE_LENGTH as GRID_CODE_LENGTH
from hub.levels import LEVEL_CODE_LENGTH as LEVEL_CODE_LENGTH
from hub.levels import Level as Level


class Area(Base):
    """An administrative unit: city (4-digit code), district or county (6), street or township
    (9), community (12). ``parent_code`` is the area one level up (a district's or county's city
    when there is one)."""

    __tablename__ = "areas"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    level: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("areas.code"), index=True, default=None
    )


class Grid(Base):
    """A unit grid, identified by its 14-digit code; belongs to one community."""

    __tablename__ = "grids"

    code: Mapped[str] = mapped_column(String(14), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    community_code: Mapped[str] = mapped_column(ForeignKey("areas.code"), index=True)
    # Reference point of the grid (micro-degrees), used when a case has no own location.
    lat_e6: Mapped[int | None] = mapped_column(Integer, default=None)
    lon_e6: Mapped[int | None] = mapped_column(Integer, default=None)
    # The approved boundary in force (``GridBoundary.version``; None: the grid has none yet).
    boundary_version: Mapped[int | None] = mapped_column(Integer, default=None)

    workers: Mapped[list[WorkerGrid]] = relationship(
        back_populates="grid", cascade="all, delete-orphan"
    )


class Worker(Base):
    """A grid worker (or assistant). Signs in on the grid's handheld with id + PIN."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    role: Mapped[str] = mapped_column(String(16), default="worker")  # worker | assistant
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    grids: Mapped[list[WorkerGrid]] = relationship(
        back_populates="worker", cascade="all, delete-orphan"
    )


class WorkerGrid(Base):
    """Many-to-many: a worker serves several grids, a grid has several workers."""

    __tablename__ = "worker_grids"

    worker_id: Mapped[str] = mapped_column(
        ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True
    )
    grid_code: Mapped[str] = mapped_column(
        ForeignKey("grids.code", ondelete="CASCADE"), primary_key=True
    )

    worker: Mapped[Worker] = relationship(back_populates="grids")
    grid: Mapped[Grid] = relationship(back_populates="workers")


class Unit(Base):
    """A department or office that handles cases, seated at one area (its level)."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    area_code: Mapped[str] = mapped_column(ForeignKey("areas.code"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="functional")  # or territorial

    responsibilities: Mapped[list[UnitResponsibility]] = relationship(
        back_populates="unit", cascade="all, delete-orphan"
    )


class UnitResponsibility(Base):
    """Unit X handles category C in area A (category NULL: the area's catch-all unit)."""

    __tablename__ = "unit_responsibilities"
    __table_args__ = (UniqueConstraint("area_code", "category_code", "unit_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    area_code: Mapped[str] = mapped_column(ForeignKey("areas.code"), index=True)
    category_code: Mapped[str | None] = mapped_column(
        ForeignKey("categories.code"), index=True, default=None
    )
    lead: Mapped[bool] = mapped_column(Boolean, default=True)

    unit: Mapped[Unit] = relationship(back_populates="responsibilities")


class BoundaryStatus(StrEnum):
    proposed = "proposed"  # awaiting an approver (not the proposer)
    approved = "approved"  # the grid's boundary in force (one per grid)
    rejected = "rejected"
    superseded = "superseded"  # was in force until a later version was approved


class GridBoundary(Base):
    """One version of a grid's boundary (GeoJSON Polygon or MultiPolygon, WGS-84 degrees).

    A grid, once coded, changes its boundary only by approval: every change is a proposal, in
    force only when an admin other than its proposer approves it (``hub.areas.boundaries``).
    The bounding box (micro-degrees) lets a point lookup pick its candidates in SQL."""

    __tablename__ = "grid_boundaries"
    __table_args__ = (
        UniqueConstraint("grid_code", "version"),
        Index("ix_grid_boundaries_box", "status", "min_lat_e6", "max_lat_e6"),
        # at most one version in force and one awaiting approval per grid, whatever races
        Index("uq_grid_boundaries_in_force", "grid_code", unique=True,
              sqlite_where=text("status = 'approved'"),
              postgresql_where=text("status = 'approved'")),
        Index("uq_grid_boundaries_proposed", "grid_code", unique=True,
              sqlite_where=text("status = 'proposed'"),
              postgresql_where=text("status = 'proposed'")),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_code: Mapped[str] = mapped_column(ForeignKey("grids.code"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    min_lat_e6: Mapped[int] = mapped_column(Integer)
    max_lat_e6: Mapped[int] = mapped_column(Integer)
    min_lon_e6: Mapped[int] = mapped_column(Integer)
    max_lon_e6: Mapped[int] = mapped_column(Integer)
    area_m2: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(16))  # api | import
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    proposed_by: Mapped[str] = mapped_column(String(128))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(128), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    decision_note: Mapped[str | None] = mapped_column(Text, default=None)
