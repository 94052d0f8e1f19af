"""The console's third-party browser assets, vendored from the npm registry (no CDN, no Node).

``PACKAGES`` pins each package's version, its tarball's SHA-512 integrity and the files the
hub serves. ``make assets`` runs ``python -m hub.console.vendoring``: for each package it reads
the registry's metadata of that version, refuses it unless its ``dist.integrity`` is the pinned
one, downloads the tarball, checks it against the pinned integrity (SHA-512),
copies the listed files (licence files included) into ``hub/console/vendor/<name>/`` and
writes ``vendor/manifest.json`` (name, version, licence, source URL, tarball integrity, and
the SHA-256 and size of every file). ``--check`` verifies the files on disk against the
manifest and exits 1 on any difference (a test runs it).

To upgrade a package, change its version and integrity here (``npm view <name>@<version>
dist.integrity``, or the registry's JSON) and run ``make assets``. A licence file a bundle
names (``For license information please see ...``) is vendored beside it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGISTRY = "https://registry.npmjs.org"
VENDOR_DIR = Path(__file__).resolve().parent / "vendor"
MANIFEST = VENDOR_DIR / "manifest.json"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # the tarball's, from the registry's dist.integrity: "sha512-<base64>"
    files: tuple[str, ...]  # paths inside the tarball's package/ folder
    licence_files: tuple[str, ...]


PACKAGES: tuple[Package, ...] = (
    Package(
        name="swagger-ui-dist",
        version="5.35.0",
        integrity="sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
        files=("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"),
        licence_files=("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"),
    ),
    # Redoc 2 (not 3): the <redoc spec-url> standalone page FastAPI's get_redoc_html writes.
    Package(
        name="redoc",
        version="2.5.4",
        integrity="sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==",
        files=("bundles/redoc.standalone.js",),
        # the bundle names both (its own and that of the search worker it embeds)
        licence_files=(
            "LICENSE",
            "bundles/redoc.standalone.js.LICENSE.txt",
            "bundles/d87bcbdbea8f8f5aa26f.worker.js.LICENSE.txt",
        ),
    ),
    # The console's maps: vector layers only (grid polygons, points, tracks), never tiles.
    Package(
        name="leaflet",
        version="1.9.4",
        integrity="sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==",
        files=(
            "dist/leaflet.js",
            "dist/leaflet.css",
            "dist/images/layers.png",
            "dist/images/layers-2x.png",
            "dist/images/marker-icon.png",
            "dist/images/marker-icon-2x.png",
            "dist/images/marker-shadow.png",
        ),
        licence_files=("LICENSE",),
    ),
    # The dashboard's and the community page's charts (canvas; no eval, so the console's CSP holds).
    Package(
        name="echarts",
        version="5.6.0",
        integrity="sha512-oTbVTsXfKuEhxftHqL5xprgLoc0k7uScAwtryCgWF6hPYFLRwOUHiFmHGCBKP5NPFNkDVopOieyUqYGH8Fa3kA==",
        files=("dist/echarts.min.js",),
        licence_files=("LICENSE", "NOTICE", "licenses/LICENSE-d3"),
    ),
)


class VendoringError(Exception):
    """A package that cannot be vendored, or files that differ from the manifest."""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_integrity(data: bytes, integrity: str, what: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise VendoringError(f"{what}: unsupported integrity {algorithm!r} (sha512 expected)")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise VendoringError(f"{what}: the tarball does not match the registry's integrity")


def served_path(inner: str) -> str:
    """Where a tarball file is served under its package's folder: the build folder
    (``dist/``, ``bundles/``) dropped, the rest kept, so a stylesheet's relative
    ``images/...`` still resolves."""
    head, _, rest = inner.partition("/")
    return rest if head in {"dist", "bundles"} and rest else inner


def _fetch(package: Package, get: Any) -> dict[str, Any]:
    """Download, verify and unpack one package; its manifest entry."""
    what = f"{package.name}@{package.version}"
    meta = get(f"{REGISTRY}/{package.name}/{package.version}")
    meta.raise_for_status()
    info = meta.json()
    tarball_url: str = info["dist"]["tarball"]
    integrity: str = info["dist"]["integrity"]
    if integrity != package.integrity:
        raise VendoringError(
            f"{what}: the registry's integrity {integrity} is not the pinned "
            f"{package.integrity}: refusing it (a new pin only with a new version)"
        )
    tarball = get(tarball_url)
    tarball.raise_for_status()
    _check_integrity(tarball.content, package.integrity, what)
    target = VENDOR_DIR / package.name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    entries = []
    with tarfile.open(fileobj=io.BytesIO(tarball.content), mode="r:gz") as archive:
        for inner in (*package.files, *package.licence_files):
            member = archive.extractfile(f"package/{inner}")
            if member is None:
                raise VendoringError(f"{what}: {inner} is not a file in the tarball")
            out = target / served_path(inner)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(member.read())
            entries.append(
                {
                    "path": f"{package.name}/{served_path(inner)}",
                    "sha256": sha256_of(out),
                    "size": out.stat().st_size,
                    "licence": inner in package.licence_files,
                }
            )
    return {
        "name": package.name,
        "version": package.version,
        "license": info.get("license"),
        "source": tarball_url,
        "integrity": integrity,
        "files": entries,
    }


def refresh() -> dict[str, Any]:
    """Re-vendor every package in ``PACKAGES``; writes and returns the manifest."""
    import httpx  # only here: serving the files needs no HTTP client

    with httpx.Client(timeout=60, follow_redirects=True) as http:
        manifest = {
            "registry": REGISTRY,
            "packages": [_fetch(package, http.get) for package in PACKAGES],
        }
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def check(vendor_dir: Path = VENDOR_DIR) -> list[str]:
    """Differences between the vendored files and the manifest (empty: all good)."""
    manifest_path = vendor_dir / MANIFEST.name
    if not manifest_path.is_file():
        return [f"{manifest_path} is missing: run make assets"]
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    problems = []
    listed = set()
    pinned = {(p.name, p.version, p.integrity) for p in PACKAGES}
    for package in manifest["packages"]:
        if (package["name"], package["version"], package["integrity"]) not in pinned:
            problems.append(
                f"{package['name']}@{package['version']} ({package['integrity']}) is not what "
                "PACKAGES pins"
            )
        for entry in package["files"]:
            path = vendor_dir / entry["path"]
            listed.add(path)
            if not path.is_file():
                problems.append(f"{entry['path']}: missing")
            elif sha256_of(path) != entry["sha256"]:
                problems.append(f"{entry['path']}: sha256 differs from the manifest")
    for path in vendor_dir.rglob("*"):
        if path.is_file() and path != manifest_path and path not in listed:
            problems.append(f"{path.relative_to(vendor_dir)}: not in the manifest")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hub.console.vendoring", description=__doc__)
    parser.add_argument("--check", action="store_true", help="verify; download nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1 if problems else 0
    try:
        manifest = refresh()
    except VendoringError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for package in manifest["packages"]:
        print(
            f"{package['name']}@{package['version']} ({package['license']}): "
            f"{len(package['files'])} files"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
