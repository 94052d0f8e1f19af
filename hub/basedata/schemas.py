"""API schemas of base data: what a reader gets (fields it may not see are None and named in
``withheld``), and the refusals."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict


class _Masked(BaseModel):
    withheld: list[str]  # fields this reader may not see (their values are None)


class ResidentRead(_Masked):
    id: int
    name: str
    gender: str
    ethnicity: str | None
    birth_date: date | None
    id_number: str | None
    phone: str | None
    relation: str | None
    population_type: str
    status: str
    house_code: str | None
    grid_code: str
    collected_by: str
    confirmed_at: datetime
    revision: int


class HouseRead(_Masked):
    id: int
    house_code: str
    address: str
    grid_code: str
    use: str
    ownership: str | None
    floors: int | None
    area_m2: int | None
    collected_by: str
    confirmed_at: datetime
    revision: int


class HouseDetail(HouseRead):
    residents: list[ResidentRead]
    organisations: list[OrganisationRead]
    visits: list[VisitRead]


class OrganisationRead(_Masked):
    id: int
    credit_code: str
    name: str
    kind: str
    address: str
    grid_code: str
    house_code: str | None
    contact_name: str | None
    contact_phone: str | None
    collected_by: str
    confirmed_at: datetime
    revision: int


class VisitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: int
    worker: str
    grid_code: str
    place_kind: str
    place_ref: str
    house_code: str | None
    purpose: str
    outcome: str
    text: str
    lat_e6: int | None
    lon_e6: int | None
    visited_at: datetime


class RefusalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: int
    device_id: str
    kind: str
    form: str | None
    worker: str | None
    grid_code: str | None
    field: str
    reason: str
    at: datetime


class RefusalCount(BaseModel):
    kind: str
    form: str | None
    field: str
    count: int


HouseDetail.model_rebuild()
