"""Residents, houses, organisations, visits, and the collections refused with their reason."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime


class House(Base):
    """实有房屋: a house (flat, shop, yard) by its house code, in one grid."""

    __tablename__ = "bd_houses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    house_code: Mapped[str] = mapped_column(String(40), unique=True)  # 房屋编码
    address: Mapped[str] = mapped_column(String(200))  # 地址
    grid_code: Mapped[str] = mapped_column(ForeignKey("grids.code"), index=True)
    use: Mapped[str] = mapped_column(String(16))  # 房屋用途 (forms.HouseUse)
    ownership: Mapped[str | None] = mapped_column(String(16), default=None)  # 产权性质
    floors: Mapped[int | None] = mapped_column(Integer, default=None)
    area_m2: Mapped[int | None] = mapped_column(Integer, default=None)
    collected_by: Mapped[str] = mapped_column(String(64))  # worker id
    event_id: Mapped[int | None] = mapped_column(Integer, default=None)  # the last collection
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)


class Resident(Base):
    """实有人口: one person by ID number (公民身份号码), living in a house of a grid."""

    __tablename__ = "bd_residents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    gender: Mapped[str] = mapped_column(String(1))  # GB/T 2261.1: 0 unknown 1 male 2 female 9
    ethnicity: Mapped[str | None] = mapped_column(String(2), default=None)  # GB/T 3304 code
    birth_date: Mapped[date] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(20), default=None)
    relation: Mapped[str | None] = mapped_column(String(2), default=None)  # GB/T 4761 code
    population_type: Mapped[str] = mapped_column(String(16))  # POPULATION_TYPES
    status: Mapped[str] = mapped_column(String(16), default="present")  # present / moved_out
    house_code: Mapped[str | None] = mapped_column(
        ForeignKey("bd_houses.house_code", ondelete="SET NULL"), index=True, default=None
    )
    grid_code: Mapped[str] = mapped_column(ForeignKey("grids.code"), index=True)
    collected_by: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)


class Organisation(Base):
    """实有单位: an organisation by its unified social credit code (统一社会信用代码)."""

    __tablename__ = "bd_organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # ORGANISATION_KINDS
    address: Mapped[str] = mapped_column(String(200))
    grid_code: Mapped[str] = mapped_column(ForeignKey("grids.code"), index=True)
    house_code: Mapped[str | None] = mapped_column(
        ForeignKey("bd_houses.house_code", ondelete="SET NULL"), default=None
    )
    contact_name: Mapped[str | None] = mapped_column(String(60), default=None)
    contact_phone: Mapped[str | None] = mapped_column(String(20), default=None)
    collected_by: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)


class Visit(Base):
    """入户走访: a worker's visit to a household (a house code) or a place (name / address)."""

    __tablename__ = "bd_visits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer, unique=True)
    device_id: Mapped[str] = mapped_column(String(64))
    worker: Mapped[str] = mapped_column(String(64), index=True)
    grid_code: Mapped[str] = mapped_column(ForeignKey("grids.code"), index=True)
    place_kind: Mapped[str] = mapped_column(String(16))  # household / place
    place_ref: Mapped[str] = mapped_column(String(200))
    house_code: Mapped[str | None] = mapped_column(
        ForeignKey("bd_houses.house_code", ondelete="SET NULL"), index=True, default=None
    )
    purpose: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(String(2000), default="")
    lat_e6: Mapped[int | None] = mapped_column(Integer, default=None)
    lon_e6: Mapped[int | None] = mapped_column(Integer, default=None)
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Refusal(Base):
    """A ``collect`` or ``visit`` event that made no record: the field and the reason. The
    event itself stays stored (``events``), so nothing is lost."""

    __tablename__ = "bd_refusals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer, unique=True)
    device_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # collect / visit
    form: Mapped[str | None] = mapped_column(String(32), default=None)
    worker: Mapped[str | None] = mapped_column(String(64), default=None)
    grid_code: Mapped[str | None] = mapped_column(String(14), index=True, default=None)
    field: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
