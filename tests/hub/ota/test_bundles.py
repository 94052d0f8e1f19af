"""Uploading bundle files: every check the device makes, made by the hub first."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.ota.reader import read_bundle, read_members
from hub.settings import Settings
from protocol import bundle
from protocol.bundle import BundleError
from tests.hub.ota.conftest import (
    FILES,
    OPS_SEED,
    OTHER_SEED,
    make_glb,
    make_tar,
    public_key,
    sealed_manifest,
)

URL = "/api/ota/bundles"
OCTET = {"Content-Type": "application/octet-stream"}


def post(client: TestClient, data: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    resp = client.post(URL, content=data, headers={**headers, **OCTET})
    return resp.status_code, resp.json()


def test_upload_stores_and_is_idempotent(
    client: TestClient, admin: dict[str, str], settings: Settings
) -> None:
    glb = make_glb()
    status, body = post(client, glb, admin)
    assert status == 201, body
    manifest = sealed_manifest()
    assert body["id"] == hashlib.sha256(manifest).hexdigest()
    assert (body["name"], body["version"], body["kinds"], body["hw"]) == (
        "gridlink-fw",
        "0.2.0",
        ["handheld"],
        ["sim-unix"],
    )
    assert body["files"] == 2 and body["size"] == sum(len(d) for d in FILES.values())
    again_status, again = post(client, glb, admin)
    assert again_status == 200 and again == body
    assert [b["id"] for b in client.get(URL, headers=admin).json()] == [body["id"]]
    assert client.get(f"{URL}/{body['id']}", headers=admin).json() == body
    # content-addressed in the OTA store, not the media store
    for data in (manifest, *FILES.values()):
        sha = hashlib.sha256(data).hexdigest()
        assert (settings.ota_dir / sha[:2] / sha[2:4] / sha).read_bytes() == data
        assert client.get(f"/api/media/{sha}/content", headers=admin).status_code == 404


def test_one_altered_byte_is_refused(client: TestClient, admin: dict[str, str]) -> None:
    manifest = sealed_manifest()
    bad = dict(FILES)
    bad["main.py"] = b"print('v3')\n"
    glb = make_tar([("manifest.json", manifest)] + [("files/" + p, d) for p, d in bad.items()])
    status, body = post(client, glb, admin)
    assert status == 422 and body["code"] == "bad_file"
    assert body["detail"] == "bad_file: file main.py does not match the manifest"
    assert client.get(URL, headers=admin).json() == []


def test_signatures(client: TestClient, admin: dict[str, str]) -> None:
    status, body = post(client, make_glb(seed=OTHER_SEED), admin)
    assert status == 422 and body["code"] == "bad_signature", body
    unsigned = sealed_manifest().replace(b',"sig":"', b',"zig":"')
    tar = make_tar([("manifest.json", unsigned)] + [("files/" + p, d) for p, d in FILES.items()])
    status, body = post(client, tar, admin)
    assert status == 422 and body["code"] in ("unsigned", "malformed"), body


def test_layout_is_checked(client: TestClient, admin: dict[str, str]) -> None:
    manifest = sealed_manifest()
    files = [("files/" + p, d) for p, d in FILES.items()]
    cases = {
        "no manifest": files,
        "traversal": [("manifest.json", manifest), *files, ("files/../evil.py", b"x")],
        "absolute": [("manifest.json", manifest), *files, ("/etc/passwd", b"x")],
        "extra member": [("manifest.json", manifest), *files, ("README", b"x")],
        "missing file": [("manifest.json", manifest), files[0]],
        "not a tar": [],
    }
    for what, members in cases.items():
        data = make_tar(members) if members else b"\x00garbage" * 10
        status, body = post(client, data, admin)
        assert status == 422, (what, body)
        assert body["code"] == "malformed" and "\n" not in body["detail"], (what, body)


def test_not_configured_and_roles(
    client: TestClient, admin: dict[str, str], demo, settings: Settings
) -> None:
    operator = {"Authorization": f"Bearer {demo.tokens['district-operator']}"}
    status, body = post(client, make_glb(), operator)
    assert status == 403, body
    assert client.get(URL, headers=operator).status_code == 200
    settings.ota_ops_key = None
    status, body = post(client, make_glb(), admin)
    assert status == 409
    assert body["detail"] == "OTA is not configured: set GRIDLINK_OTA_OPS_KEY"


def sparse_tar(tmp_path: Path, apparent: int) -> bytes:
    """A GNU tar (``tar --format=gnu -S``) holding the manifest and a sparse files/x of
    ``apparent`` bytes: a few KiB on the wire, all zeros once read."""
    (tmp_path / "files").mkdir()
    (tmp_path / "manifest.json").write_bytes(sealed_manifest())
    with open(tmp_path / "files" / "x", "wb") as f:
        f.truncate(apparent)
    out = tmp_path / "sparse.tar"
    subprocess.run(
        ["tar", "--format=gnu", "-S", "-cf", str(out), "manifest.json", "files/x"],
        cwd=tmp_path,
        check=True,
    )
    return out.read_bytes()


def test_sizes_and_sparse_members_are_refused_before_reading(
    client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    data = sparse_tar(tmp_path, 256 * 1024 * 1024)
    assert len(data) < 64 * 1024
    started = time.monotonic()
    with pytest.raises(BundleError) as err:
        read_bundle(data, public_key(OPS_SEED))
    assert err.value.reason == "malformed"
    assert str(err.value) == "member 'files/x' is not a regular file"
    assert time.monotonic() - started < 1.0  # 256 MiB of zeros was never made
    manifest = sealed_manifest()
    big = b"x" * (bundle.MAX_FILE_BYTES + 1)
    cases = {
        "files/big.py": ([("manifest.json", manifest), ("files/big.py", big)], "too_large"),
        "manifest.json": ([("manifest.json", b" " * (bundle.MAX_MANIFEST_BYTES + 1))], "too_large"),
    }
    for name, (members, reason) in cases.items():
        with pytest.raises(BundleError) as err:
            read_bundle(make_tar(members), public_key(OPS_SEED))
        assert err.value.reason == reason, name
        assert str(err.value).startswith(f"member {name!r} of "), str(err.value)
    # many members each within its limit, more than a bundle holds in all
    many = [("manifest.json", manifest)] + [
        (f"files/f{i}.py", b"y" * bundle.MAX_FILE_BYTES) for i in range(9)
    ]
    with pytest.raises(BundleError) as err:
        read_members(make_tar(many))
    assert err.value.reason == "too_large" and "in all" in str(err.value)
    # a member whose data the file does not hold
    cut = make_tar([("manifest.json", manifest), ("files/main.py", b"z" * 5000)])[:3072]
    with pytest.raises(BundleError) as err:
        read_bundle(cut, public_key(OPS_SEED))
    assert err.value.reason == "malformed", str(err.value)
    status, body = post(client, data, admin)
    assert status == 422 and body["code"] == "malformed", body


def test_upload_checks_the_bundle_off_the_event_loop(
    client: TestClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.ota import service

    on_loop: list[bool] = []
    real = service.read_bundle

    def watched(data: bytes, key: bytes) -> object:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return real(data, key)

    monkeypatch.setattr(service, "read_bundle", watched)
    status, body = post(client, make_glb(), admin)
    assert status == 201, body
    assert on_loop == [False]


def test_the_ops_key_setting_takes_hex_in_either_case(settings: Settings) -> None:
    key = public_key(OPS_SEED).hex()
    base = settings.model_dump(exclude={"ota_ops_key"})
    assert Settings(**{**base, "ota_ops_key": key.upper()}).ota_ops_key == key
    with pytest.raises(ValueError, match="ota_ops_key"):
        Settings(**{**base, "ota_ops_key": "zz" * 32})
