"""Graded access (分级准入): the class of every personal field and who sees which class.

Three classes of field:

- ``basic``: what the work needs (a resident's name, gender, house, grid): every admin and
  operator whose scope covers the record;
- ``contact``: phone numbers: operators and admins of a community (a scope of 12 digits or
  more), who call residents, and holders of an identity grant who state a purpose;
- ``identity``: the ID number (公民身份号码) and the birth date: only holders of an identity
  grant (``hub.privacy.models.DataGrant``), and only on a read that states its purpose.

Units (handling units) read no base data at all. A field a reader may not see is withheld:
``None`` in a record, absent from an event body, and named in the answer's ``withheld``. In a
stored event body any field this table does not know is treated as ``identity`` (a rejected
form may carry anything)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hub.auth.models import Role
from hub.auth.service import Principal
from hub.errors import PermissionDeniedError

COMMUNITY_DIGITS = 12  # a community's area code; a grid's is 14


class FieldClass(StrEnum):
    basic = "basic"
    contact = "contact"
    identity = "identity"


B, C, ID = FieldClass.basic, FieldClass.contact, FieldClass.identity

FIELDS: dict[str, dict[str, FieldClass]] = {
    "resident": {
        "name": B, "gender": B, "ethnicity": B, "relation": B, "population_type": B,
        "house_code": B, "grid_code": B, "status": B,
        "phone": C,
        "id_number": ID, "birth_date": ID,
    },
    "house": {
        "house_code": B, "address": B, "grid_code": B, "use": B, "ownership": B, "floors": B,
        "area_m2": B,
    },
    "organisation": {
        "name": B, "credit_code": B, "kind": B, "address": B, "grid_code": B, "house_code": B,
        "contact_name": B,
        "contact_phone": C,
    },
    "visit": {
        "worker": B, "grid_code": B, "place_kind": B, "place_ref": B, "house_code": B,
        "purpose": B, "outcome": B, "text": B, "lat_e6": B, "lon_e6": B, "visited_at": B,
    },
}  # fmt: skip


@dataclass(frozen=True)
class Reader:
    """A principal reading base data, with its grants and the purpose it gave."""

    principal: Principal
    identity: bool = False  # holds a live identity grant
    auditor: bool = False  # holds a live auditor grant
    purpose: str | None = None

    def sees(self, cls: FieldClass) -> bool:
        if cls == B:
            return True
        if self.identity and self.purpose:
            return True
        scope = self.principal.scope_code
        return cls == C and scope is not None and len(scope) >= COMMUNITY_DIGITS

    def withheld(self, kind: str) -> list[str]:
        return [f for f, c in FIELDS[kind].items() if not self.sees(c)]

    def shown(self, kind: str) -> list[str]:
        """The personal (non-basic) fields of ``kind`` this reader gets."""
        return [f for f, c in FIELDS[kind].items() if c != B and self.sees(c)]

    def mask(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` with every field this reader may not see set to None."""
        hidden = set(self.withheld(kind))
        return {k: (None if k in hidden else v) for k, v in record.items()}

    def mask_event_body(self, kind: str, body: dict[str, Any]) -> MaskedBody | None:
        """A stored event's body as this reader may see it; None when the kind holds no base
        data (only ``collect`` and ``visit`` bodies do: their reads are audited)."""
        if kind == "visit":
            return MaskedBody(dict(body), [], [])
        if kind != "collect":
            return None
        record = body.get("record")
        form = body.get("form")
        classes = FIELDS.get(form, {}) if isinstance(form, str) else {}
        shown_personal: list[str] = []
        withheld: list[str] = []
        # the envelope's own keys; any other top-level key is read as an identity field
        out: dict[str, Any] = {
            k: body[k] for k in ("grid", "worker", "form", "record") if k in body
        }
        for key in sorted(set(body) - set(out)):
            if self.sees(ID):
                out[key] = body[key]
                shown_personal.append(key)
            else:
                withheld.append(key)
        if isinstance(record, dict):
            shown: dict[str, Any] = {}
            for key, value in record.items():
                cls = classes.get(key, ID)
                if self.sees(cls):
                    shown[key] = value
                    if cls != B:
                        shown_personal.append(key)
                else:
                    withheld.append(key)
            out["record"] = shown
        elif record is not None:
            if self.sees(ID):
                shown_personal.append("record")
            else:
                out["record"] = None
                withheld.append("record")
        if withheld:
            out["withheld"] = sorted(withheld)
        return MaskedBody(out, sorted(shown_personal), sorted(withheld))


@dataclass(frozen=True)
class MaskedBody:
    body: dict[str, Any]
    shown: list[str]  # personal fields left in
    withheld: list[str]  # fields taken out


def require_reader(principal: Principal) -> None:
    """Refuse the roles that read no base data (handling units)."""
    if principal.role not in (Role.admin, Role.operator):
        raise PermissionDeniedError("base data is read by operators and admins only")
