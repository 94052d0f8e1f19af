"""Pydantic schemas for areas, grids, workers and units."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.areas.models import Level, Unit, Worker
from hub.bounds import LatE6, LonE6


class AreaRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    level: str
    name: str
    parent_code: str | None


class AreaCreate(BaseModel):
    code: str = Field(pattern=r"^(\d{4}|\d{6}|\d{9}|\d{12})$")
    name: str = Field(min_length=1, max_length=200)
    level: Level | None = Field(
        default=None,
        description="must fit the code's length: city 4 digits, district or county 6, street "
        "or township 9, community 12; none: city, district, street or community",
    )


class GridRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    community_code: str
    lat_e6: int | None
    lon_e6: int | None
    boundary_version: int | None  # the boundary in force (GET /api/grids/{code}/boundary)


class BoundaryProposal(BaseModel):
    """A new boundary for a grid: a GeoJSON Polygon or MultiPolygon (or a Feature holding one),
    positions ``[longitude, latitude]`` in WGS-84 degrees; in force once another admin
    approves it."""

    geometry: dict[str, Any]
    reason: str | None = Field(default=None, max_length=2000)


class BoundaryDecision(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class BoundaryProperties(BaseModel):
    code: str
    name: str | None
    version: int
    status: str  # proposed | approved (in force) | rejected | superseded
    area_m2: float
    source: str  # api | import
    reason: str | None
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None


class BoundaryFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any]
    properties: BoundaryProperties


class BoundaryCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[BoundaryFeature]


class GridCreate(BaseModel):
    code: str = Field(pattern=r"^\d{14}$")
    name: str = Field(min_length=1, max_length=200)
    lat_e6: LatE6 | None = None
    lon_e6: LonE6 | None = None


class GridUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    lat_e6: LatE6 | None = None
    lon_e6: LonE6 | None = None


class WorkerRead(BaseModel):
    id: str
    name: str
    phone: str | None
    role: str
    active: bool
    created_at: datetime
    grid_codes: list[str]

    @classmethod
    def of(cls, worker: Worker) -> WorkerRead:
        return cls(
            id=worker.id,
            name=worker.name,
            phone=worker.phone,
            role=worker.role,
            active=worker.active,
            created_at=worker.created_at,
            grid_codes=sorted(link.grid_code for link in worker.grids),
        )


class WorkerCreate(BaseModel):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    role: str = Field(default="worker", pattern=r"^(worker|assistant)$")
    grid_codes: list[str] = Field(default_factory=list)


class WorkerUpdate(BaseModel):
    """Fields left out stay as they are; ``phone`` may be cleared with null, ``name`` and
    ``active`` may not (a worker always has both)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    active: bool | None = None

    @model_validator(mode="after")
    def _no_null_required(self) -> WorkerUpdate:
        for key in ("name", "active"):
            if key in self.model_fields_set and getattr(self, key) is None:
                raise ValueError(f"{key} cannot be null")
        return self


class UnitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    area_code: str
    kind: str
    categories: list[str | None] = Field(default_factory=list)  # led (null: catch-all)
    co_categories: list[str] = Field(default_factory=list)  # co-handled beside their lead

    @classmethod
    def of(cls, unit: Unit) -> UnitRead:
        read = cls.model_validate(unit)
        read.categories = [r.category_code for r in unit.responsibilities if r.lead]
        read.co_categories = [
            r.category_code
            for r in unit.responsibilities
            if not r.lead and r.category_code is not None
        ]
        return read


class UnitCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    area_code: str = Field(pattern=r"^(\d{4}|\d{6}|\d{9}|\d{12})$")
    kind: str = Field(default="functional", pattern=r"^(functional|territorial)$")
    categories: list[str | None] = Field(
        default_factory=list, description="category codes handled; null = the area's catch-all"
    )


class ResponsibilityCreate(BaseModel):
    area_code: str = Field(pattern=r"^(\d{4}|\d{6}|\d{9}|\d{12})$")
    category_code: str | None = None
    lead: bool = True
