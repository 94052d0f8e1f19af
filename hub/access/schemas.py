"""API schemas of the access domain. No schema carries a face template: the hub has none,
only the template id a device reported (``face_template``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hub.access.models import PersonKind
from protocol.limits import MAX_TS

EntryId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
DoorId = Annotated[str, StringConstraints(pattern=r"^(\*|[A-Za-z0-9._-]{1,32})$")]
Card = Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{4,32}$", to_upper=True)]
QrToken = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._~-]{8,128}$")]
PinHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# A Chinese plate: province character, issuing-office letter, 4-6 letters / digits (5 for
# ordinary plates, 6 for new-energy ones), optionally a suffix character (挂 学 警 港 澳 ...).
Plate = Annotated[
    str,
    StringConstraints(
        pattern=r"^[\u4e00-\u9fff][A-Z][A-Z0-9]{4,6}[\u4e00-\u9fff]?$", to_upper=True
    ),
]
HourMinute = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
UnixTime = Annotated[int, Field(ge=0, le=MAX_TS)]
Community = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=500)]


def _check_window(valid_from: int, valid_to: int | None) -> None:
    if valid_to is not None and valid_to <= valid_from:
        raise ValueError("valid_to must be after valid_from")


class Credentials(BaseModel):
    """Card numbers (hex), QR tokens, and PINs as sha256 hex of ``"pin:<pin>"`` (the hub never
    sees a PIN); duress PINs open the door and raise a duress alarm."""

    cards: list[Card] = Field(default_factory=list, max_length=16)
    qr: list[QrToken] = Field(default_factory=list, max_length=16)
    pins: list[PinHash] = Field(default_factory=list, max_length=8)
    duress: list[PinHash] = Field(default_factory=list, max_length=8)


class PersonPut(Credentials):
    kind: PersonKind = PersonKind.resident
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    valid_from: UnixTime = 0
    valid_to: UnixTime | None = None
    doors: list[DoorId] = Field(default_factory=lambda: ["*"], min_length=1, max_length=64)
    schedule: EntryId | None = None
    black: bool = False

    @model_validator(mode="after")
    def _window(self) -> PersonPut:
        _check_window(self.valid_from, self.valid_to)
        return self


class VisitorPassCreate(Credentials):
    """A visitor pass: a person of kind visitor valid from now (or ``valid_from``) until
    ``valid_to``; the gates receive it with the next list sync."""

    id: EntryId | None = None  # default: v-<random>
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    valid_from: UnixTime | None = None
    valid_to: UnixTime
    doors: list[DoorId] = Field(default_factory=lambda: ["*"], min_length=1, max_length=64)
    schedule: EntryId | None = None


class PersonRead(BaseModel):
    community: str
    id: str
    kind: str
    name: str | None
    valid_from: int
    valid_to: int | None
    doors: list[str]
    schedule: str | None
    black: bool
    cards: list[str]
    qr: list[str]
    pins: list[str]
    duress: list[str]
    face_template: str | None  # the id a face terminal reported, never a template
    face_consent: bool
    issued_by: str | None
    created_at: datetime
    updated_at: datetime
    version: int  # the community's list version after this read or change


class PersonPage(BaseModel):
    items: list[PersonRead]
    total: int


class VehiclePut(BaseModel):
    person: EntryId | None = None
    valid_from: UnixTime = 0
    valid_to: UnixTime | None = None
    doors: list[DoorId] = Field(default_factory=lambda: ["*"], min_length=1, max_length=64)
    black: bool = False

    @model_validator(mode="after")
    def _window(self) -> VehiclePut:
        _check_window(self.valid_from, self.valid_to)
        return self


class VehicleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    community: str
    plate: str
    person_id: str | None
    valid_from: int
    valid_to: int | None
    doors: list[str]
    black: bool
    updated_at: datetime


class SchedulePut(BaseModel):
    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(min_length=1, max_length=7)
    from_hm: HourMinute = Field(alias="from")
    to_hm: HourMinute = Field(alias="to")

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="after")
    def _order(self) -> SchedulePut:
        if len(set(self.days)) != len(self.days):
            raise ValueError("days must not repeat")
        if self.to_hm <= self.from_hm:
            raise ValueError("'to' must be after 'from' (a window within one day)")
        return self


class ScheduleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    community: str
    id: str
    days: list[int]
    from_hm: str
    to_hm: str
    updated_at: datetime


class ConsentCreate(BaseModel):
    purpose: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    community: str
    person_id: str
    purpose: str
    consented_at: datetime
    recorded_by: str
    withdrawn_at: datetime | None
    withdrawn_by: str | None


class DeviceListRead(BaseModel):
    device_id: str
    kind: str
    version: int | None  # None: never reported


class ListStatus(BaseModel):
    community: str
    version: int
    log_floor: int  # deltas start from this version or later; older gates get a snapshot
    devices: list[DeviceListRead]


class AccessLogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: str
    seq: int
    idx: int
    community: str
    grid_code: str
    ev: str
    is_alarm: bool
    ts: int
    ms: int
    captured_at: datetime
    received_at: datetime
    historical: bool
    door: str | None
    direction: str | None
    by: str | None
    reason: str | None
    person_id: str | None
    credential: str | None
    plate: str | None
    colour: str | None
    score: int | None
    template_id: str | None = Field(validation_alias="template")  # an id, never a template
    blob_sha256: str | None
    latency_ms: int | None
    detail: dict[str, Any]


class AccessLogPage(BaseModel):
    items: list[AccessLogRead]
    total: int


class HourFigures(BaseModel):
    hour: datetime  # start of the hour (UTC)
    people_in: int
    people_out: int
    vehicles_in: int
    vehicles_out: int


class VehicleInside(BaseModel):
    plate: str
    since: datetime
    door: str | None
    person_id: str | None


class CommunityFigures(BaseModel):
    community: str
    since: datetime
    until: datetime
    hours: list[HourFigures]
    vehicles_inside: list[VehicleInside]  # now: a granted plate "in" without a later "out"
    alarms: dict[str, int]  # alarms by kind over the range
    denied: dict[str, int]  # denials by reason over the range


class CaptureAuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sha256: str
    log_id: int | None
    actor: str
    reason: str
    at: datetime
