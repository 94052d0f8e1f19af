"""OTA fixtures: an ops key the hub is configured with, bundle files built here (the tar
layout of docs/ota.md), registered devices and an admin client."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.orm import Session

from hub.settings import Settings
from protocol import bundle
from tests.builders.devices import TestDevice

OPS_SEED = bytes(range(32))
OTHER_SEED = bytes(range(1, 33))
GRID = "33010200100101"


def public_key(seed: bytes) -> bytes:
    key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"ota_ops_key": public_key(OPS_SEED).hex()})


FILES = {"main.py": b"print('v2')\n", "lib/device.py": b"X = 2\n" * 500}


def make_tar(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def sealed_manifest(
    files: dict[str, bytes] = FILES,
    *,
    version: str = "0.2.0",
    kinds: tuple[str, ...] = ("handheld",),
    hw: tuple[str, ...] = ("sim-unix",),
    seed: bytes = OPS_SEED,
) -> bytes:
    entries = [
        bundle.file_entry(p, hashlib.sha256(d).hexdigest(), len(d)) for p, d in files.items()
    ]
    return bundle.seal(bundle.build("gridlink-fw", version, kinds, hw, entries), seed)


def make_glb(files: dict[str, bytes] = FILES, **kwargs: Any) -> bytes:
    manifest = sealed_manifest(files, **kwargs)
    return make_tar([("manifest.json", manifest)] + [("files/" + p, d) for p, d in files.items()])


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}


@pytest.fixture
def devices(
    db_session: Session, device_factory: Callable[..., TestDevice], demo: Any
) -> Callable[..., list[TestDevice]]:
    def make(n: int, kind: str = "handheld", prefix: str = "hh") -> list[TestDevice]:
        out = []
        for i in range(n):
            dev = device_factory(f"{prefix}-{i:03d}", kind=kind)
            grid = f"{GRID[:12]}{i:02d}" if kind == "handheld" else None
            dev.register(db_session, grid)
            out.append(dev)
        db_session.commit()
        return out

    return make


from tests.hub.ingest.conftest import broker, start_worker  # noqa: E402, F401
