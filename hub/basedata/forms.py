"""The collection forms (the ``record`` of a ``collect`` event) and their checks.

The items are a subset of GB/T 31000-2015 (社会治安综合治理基础数据规范): 实有人口 (population),
实有房屋 (houses), 实有单位 (organisations); the codes are those of the national standards it
cites: gender GB/T 2261.1, ethnicity GB/T 3304, relation to the householder GB/T 4761, the ID
number GB 11643 (with its check digit), the unified social credit code GB 32100 (with its
check character). docs/basedata.md lists every item. A form with a field it does not know is
refused: the hub never stores personal data it has no rule for."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

HouseUse = Literal["residential", "commercial", "mixed", "office", "industrial", "other"]
Ownership = Literal["private", "public", "collective", "rented", "other"]
PopulationType = Literal["registered", "floating", "overseas"]  # 户籍 / 流动 / 境外
OrganisationKind = Literal[
    "enterprise", "institution", "social", "government", "individual", "other"
]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Phone = Annotated[str, StringConstraints(pattern=r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")]
HouseCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{4,40}$")]
Code2 = Annotated[str, StringConstraints(pattern=r"^\d{2}$")]


def id_number_error(value: str) -> str | None:
    """Why ``value`` is not a valid 18-character 公民身份号码, or None."""
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in "0123456789X":
        return "an ID number is 17 digits and a check digit or X"
    total = sum(int(d) * w for d, w in zip(value[:17], ID_WEIGHTS, strict=True))
    if ID_CHECK[total % 11] != value[17]:
        return "the ID number's check digit is wrong"
    if id_birth_date(value) is None:
        return "the ID number holds no valid birth date"
    return None


def id_birth_date(value: str) -> date | None:
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def credit_code_error(value: str) -> str | None:
    """Why ``value`` is not a valid 统一社会信用代码, or None."""
    if len(value) != 18 or any(c not in CREDIT_CHARS for c in value):
        return "a unified social credit code is 18 characters of 0-9 and A-Y (no I O S V Z)"
    total = sum(CREDIT_CHARS.index(c) * w for c, w in zip(value[:17], CREDIT_WEIGHTS, strict=True))
    if CREDIT_CHARS[(31 - total % 31) % 31] != value[17]:
        return "the credit code's check character is wrong"
    return None


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResidentForm(_Form):
    id_number: Annotated[str, StringConstraints(to_upper=True)]
    name: Name
    gender: Literal["0", "1", "2", "9"]
    ethnicity: Code2 | None = None
    birth_date: date | None = None  # from the ID number when not given
    phone: Phone | None = None
    relation: Code2 | None = None
    population_type: PopulationType = "registered"
    status: Literal["present", "moved_out"] = "present"
    house_code: HouseCode | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ResidentForm:
        error = id_number_error(self.id_number)
        if error is not None:
            raise ValueError(f"id_number: {error}")
        born = id_birth_date(self.id_number)
        if self.birth_date is None:
            self.birth_date = born
        elif self.birth_date != born:
            raise ValueError("birth_date: does not match the ID number")
        odd = int(self.id_number[16]) % 2 == 1
        if self.gender in ("1", "2") and odd != (self.gender == "1"):
            raise ValueError("gender: does not match the ID number")
        return self


class HouseForm(_Form):
    house_code: HouseCode
    address: Text
    use: HouseUse
    ownership: Ownership | None = None
    floors: Annotated[int, Field(ge=0, le=300)] | None = None
    area_m2: Annotated[int, Field(ge=0, le=10_000_000)] | None = None


class OrganisationForm(_Form):
    credit_code: Annotated[str, StringConstraints(to_upper=True)]
    name: Text
    kind: OrganisationKind
    address: Text
    house_code: HouseCode | None = None
    contact_name: Name | None = None
    contact_phone: Phone | None = None

    @model_validator(mode="after")
    def _credit(self) -> OrganisationForm:
        error = credit_code_error(self.credit_code)
        if error is not None:
            raise ValueError(f"credit_code: {error}")
        return self


FORMS: dict[str, type[_Form]] = {
    "resident": ResidentForm,
    "house": HouseForm,
    "organisation": OrganisationForm,
}


class FormError(Exception):
    """A record refused: ``field`` and a reason that never repeats the value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def parse(form: str, record: object) -> _Form:
    """The checked form, or ``FormError`` naming the first bad field."""
    model = FORMS.get(form)
    if model is None:
        raise FormError("form", f"unknown form (one of {', '.join(FORMS)})")
    if not isinstance(record, dict):
        raise FormError("record", "a record is a JSON object of the form's fields")
    try:
        return model.model_validate(record)
    except ValidationError as exc:
        err = exc.errors(include_input=False, include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not loc and ": " in msg:  # a model check names its field first
            loc, msg = msg.split(": ", 1)
        if err["type"] == "extra_forbidden":
            msg = "not a field of this form"
        return _raise(loc or "record", msg)


def _raise(field: str, reason: str) -> _Form:
    raise FormError(field, reason[:250])
