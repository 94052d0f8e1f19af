"""Access-domain fixtures: the demo areas, gates bound to the first demo grid, small builders."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from hub.access.schemas import PersonPut
from hub.devices.models import Device
from hub.seed import DemoData

COMMUNITY = "330102001001"  # Qinghefang Community (street 330102001)
GRID = "33010200100101"
OTHER_COMMUNITY = "330102002001"  # another street
OTHER_GRID = "33010200200101"


def pin_hash(pin: str) -> str:
    return hashlib.sha256(f"pin:{pin}".encode()).hexdigest()


def add_gate(
    db_session: Session, device_id: str, kind: str, *, at: datetime, grid: str = GRID
) -> Device:
    device = Device(
        id=device_id,
        kind=kind,
        public_key="22" * 32,
        status="active",
        grid_code=grid,
        registered_at=at,
        online=True,
    )
    db_session.add(device)
    db_session.flush()
    return device


def resident(**fields: Any) -> PersonPut:
    fields.setdefault("cards", ["04A1B2C3"])
    return PersonPut(**fields)


@pytest.fixture
def gates(db_session: Session, demo: DemoData, clock: Any) -> dict[str, Device]:
    at = clock.now()
    out = {
        "face": add_gate(db_session, "face-01", "face", at=at),
        "access": add_gate(db_session, "acc-01", "access", at=at),
        "barrier": add_gate(db_session, "bar-01", "barrier", at=at),
        "other": add_gate(db_session, "face-99", "face", at=at, grid=OTHER_GRID),
    }
    db_session.commit()
    return out
