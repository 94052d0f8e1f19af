"""The console page, the OpenAPI pages and the vendored assets, over HTTP (no browser)."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.console import vendoring


def test_openapi_and_console_page(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/cases/{case_id}/close" in schema["paths"]
    assert "/api/session" in schema["paths"]
    page = client.get("/console")
    assert "网格指挥中心" in page.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/console"


def test_the_console_runs_only_its_own_files(client: TestClient) -> None:
    page = client.get("/console")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text  # no inline script: the CSP would refuse it
    for asset in re.findall(r'(?:src|href)="(/console/static/[^"]+)"', page.text):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/console/static/../api.py").status_code == 404


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_openapi_pages_load_nothing_from_elsewhere(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']?([^"' >]+)""", page.text)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "https://" not in page.text and "fonts.googleapis" not in page.text
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert "img-src 'self' data:" in page.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_openapi_pages_allow_only_their_own_inline_script(
    client: TestClient, path: str
) -> None:
    page = client.get(path)
    csp = page.headers["content-security-policy"]
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src "))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    allowed = {
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in inline
    }
    parts = script_src.split()
    assert parts[:2] == ["script-src", "'self'"] and set(parts[2:]) == allowed
    assert (path == "/docs") == bool(inline)  # Swagger UI's init script; Redoc has none


def test_the_vendored_files_match_their_manifest(tmp_path: Path) -> None:
    assert vendoring.check() == []
    manifest = (vendoring.MANIFEST).read_text(encoding="utf-8")
    for package in vendoring.PACKAGES:
        assert f'"version": "{package.version}"' in manifest
        for licence in package.licence_files:
            assert (vendoring.VENDOR_DIR / package.name / vendoring.served_path(licence)).is_file()
    copy = tmp_path / "vendor"
    shutil.copytree(vendoring.VENDOR_DIR, copy)
    (copy / "redoc" / "redoc.standalone.js").write_text("tampered", encoding="utf-8")
    (copy / "redoc" / "extra.js").write_text("", encoding="utf-8")
    assert vendoring.check(copy) == [
        "redoc/redoc.standalone.js: sha256 differs from the manifest",
        "redoc/extra.js: not in the manifest",
    ]


def test_a_tarball_must_match_the_registrys_integrity() -> None:
    data = b"tarball bytes"
    good = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    vendoring._check_integrity(data, good, "x@1")
    with pytest.raises(vendoring.VendoringError, match="does not match"):
        vendoring._check_integrity(data + b"!", good, "x@1")
    with pytest.raises(vendoring.VendoringError, match="unsupported integrity"):
        vendoring._check_integrity(data, "sha1-abc", "x@1")


class Answer:
    """What the vendoring's ``get`` returns: an httpx-like response."""

    def __init__(self, body: dict[str, object] | None = None, content: bytes = b"") -> None:
        self.body, self.content = body, content

    def raise_for_status(self) -> None:
        pass

    def json(self) -> dict[str, object] | None:
        return self.body


def test_a_package_is_refused_unless_the_registry_gives_the_pinned_integrity() -> None:
    pinned = vendoring.PACKAGES[1]
    other = "sha512-" + base64.b64encode(hashlib.sha512(b"another tarball").digest()).decode()
    fetched: list[str] = []

    def get(url: str) -> Answer:  # a registry that now publishes another tarball
        fetched.append(url)
        if url.endswith(".tgz"):
            return Answer(content=b"another tarball")
        return Answer({"dist": {"tarball": "https://registry.example/x.tgz", "integrity": other}})

    with pytest.raises(vendoring.VendoringError, match="is not the pinned"):
        vendoring._fetch(pinned, get)
    assert not any(u.endswith(".tgz") for u in fetched)  # refused before downloading
    fetched.clear()
    tampered = vendoring.Package(pinned.name, pinned.version, other, pinned.files, ())
    # a registry answering the pin, then serving other bytes
    with pytest.raises(vendoring.VendoringError, match="does not match"):
        vendoring._fetch(
            tampered,
            lambda url: (
                Answer(content=b"tampered")
                if url.endswith(".tgz")
                else Answer(
                    {"dist": {"tarball": "https://registry.example/x.tgz", "integrity": other}}
                )
            ),
        )


def test_every_licence_file_a_bundle_names_is_vendored() -> None:
    for package in vendoring.PACKAGES:
        for inner in package.files:
            path = vendoring.VENDOR_DIR / package.name / Path(inner).name
            if path.suffix != ".js":
                continue
            named = re.findall(r"license information please see ([\w.-]+)", path.read_text())
            for licence in named:
                assert (path.parent / licence).is_file(), (path, licence)
