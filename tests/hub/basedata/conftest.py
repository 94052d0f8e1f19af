"""Base-data fixtures: a handheld bound to the demo's first grid, sending signed ``collect`` /
``visit`` events through the real ingest processor, and bearer headers of the demo accounts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.ingest.processor import Processor
from hub.mqtt_messages import Inbound
from hub.seed import DemoData
from hub.settings import Settings
from tests.builders.devices import TestDevice

GRID = "33010200100101"  # the demo's first grid (community 330102001001, street 330102001)
OTHER_GRID = "33010200200101"  # a grid of the other street
WORKER = "w00100101"
HOUSE = "330102001001-0101"
# ID numbers with valid GB 11643 check digits (digit 17 odd: male, even: female)
MAN = "330102198503120014"
WOMAN = "330102199007010021"
CREDIT = "91330102MA2B3C4D5K"  # a valid GB 32100 unified social credit code


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Field:
    """The demo's accounts and a handheld in ``GRID`` whose events the hub ingests."""

    client: TestClient
    demo: DemoData
    settings: Settings
    processor: Processor
    dev: TestDevice

    def send(self, kind: str, body: dict[str, Any], ts: int | None = None) -> None:
        result = self.processor.process([Inbound(*self.dev.event(kind, body, ts=ts))])
        assert result.stored == 1, result

    def collect(self, form: str, record: Any, ts: int | None = None, **kw: Any) -> None:
        """A ``collect`` event; ``kw`` replaces body keys (``grid``, ``worker``)."""
        body = {"grid": GRID, "worker": WORKER, "form": form, "record": record}
        self.send("collect", {**body, **kw}, ts=ts)

    def visit(self, kind: str, ref: str, **kw: Any) -> None:
        body = {
            "grid": GRID,
            "worker": WORKER,
            "place": {"kind": kind, "ref": ref},
            "purpose": "follow_up",
            "outcome": "met",
            "text": "家中老人身体良好",
            "loc": {"lat_e6": 30251000, "lon_e6": 120171000, "acc_m": 8},
        }
        self.send("visit", {**body, **kw})

    def token(self, label: str) -> dict[str, str]:
        return auth(self.demo.tokens[label])

    @property
    def root(self) -> dict[str, str]:
        return auth(self.settings.admin_token.get_secret_value())

    def token_id(self, label: str) -> int:
        rows = self.client.get("/api/tokens", headers=self.root).json()
        return next(int(r["id"]) for r in rows if r["name"] == label)

    def get(self, path: str, label: str, **params: Any) -> Any:
        r = self.client.get(path, headers=self.token(label), params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def audits(self, **params: Any) -> list[dict[str, Any]]:
        r = self.client.get("/api/privacy/audits", headers=self.root, params=params)
        assert r.status_code == 200, r.text
        rows: list[dict[str, Any]] = r.json()
        return rows

    def household(self) -> None:
        """A house and two residents in it (a man with a phone, a woman without)."""
        self.collect(
            "house",
            {
                "house_code": HOUSE,
                "address": "清波街道清河坊社区1幢101室",
                "use": "residential",
                "ownership": "private",
                "floors": 6,
            },
        )
        self.collect(
            "resident",
            {
                "id_number": MAN,
                "name": "张伟",
                "gender": "1",
                "ethnicity": "01",
                "phone": "13800138000",
                "relation": "02",
                "house_code": HOUSE,
            },
        )
        self.collect(
            "resident",
            {
                "id_number": WOMAN,
                "name": "李娜",
                "gender": "2",
                "relation": "10",
                "house_code": HOUSE,
            },
        )


@pytest.fixture
def field(
    client: TestClient,
    demo: DemoData,
    settings: Settings,
    processor: Processor,
    device_factory: Callable[..., TestDevice],
) -> Field:
    dev = device_factory("hh-field")
    body = {
        "id": dev.device_id,
        "kind": "handheld",
        "public_key": dev.public_key.hex(),
        "grid_code": GRID,
    }
    headers = auth(settings.admin_token.get_secret_value())
    assert client.post("/api/devices", json=body, headers=headers).status_code == 201
    out = Field(client, demo, settings, processor, dev)
    # the worker signs in first: a form from a worker not signed in is refused (hub.workers)
    out.send("signin", {"worker": WORKER, "grid": GRID, "ok": True})
    return out
