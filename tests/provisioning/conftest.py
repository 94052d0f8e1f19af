"""The broker target the ACL tests run against: the locked-down Mosquitto over plain TCP.

A target is (host, port, tls kwargs for paho's ``tls_set``) plus the broker it reaches, so
the same tests run over a TLS listener by adding a parameter here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.mosquitto import Mosquitto


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    tls: dict[str, Any] | None
    broker: Mosquitto


@pytest.fixture(params=["tcp"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    with Mosquitto(workdir=tmp_path / "broker", persistence=True) as broker:
        yield Target(broker.host, broker.port, None, broker)
