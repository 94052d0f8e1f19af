"""Uploading bundle files: every check the device makes, made by the hub first."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient

from hub.settings import Settings
from tests.hub.ota.conftest import FILES, OTHER_SEED, make_glb, make_tar, sealed_manifest

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
