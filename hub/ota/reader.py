"""Reading a bundle file (``*.glb``): an uncompressed POSIX tar holding exactly
``manifest.json`` (the sealed manifest) and ``files/<path>`` for each file the manifest lists;
no other members, no links, directories or sparse members, no absolute or ``..`` names
(docs/ota.md). Every member's declared size is checked before its data is read.

``read_bundle`` checks the layout, the ops key's signature (``protocol.bundle.open``), every
file's size and SHA-256 and ``min_hub``; every refusal is a ``BundleError`` with the reason
the device would give and one line saying what is wrong.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from protocol import bundle
from protocol.bundle import BundleError
from protocol.errors import ProtocolError
from protocol.limits import PROTOCOL_VERSION

if TYPE_CHECKING:
    from protocol.bundle import SealedManifest

MANIFEST = "manifest.json"
FILES_PREFIX = "files/"
# the manifest and the files together, as the tar declares them (checked before reading any)
MAX_TAR_CONTENT = bundle.MAX_MANIFEST_BYTES + bundle.MAX_BUNDLE_BYTES


@dataclass(frozen=True)
class BundleContent:
    manifest_bytes: bytes
    manifest: SealedManifest
    files: dict[str, bytes]  # bundle path -> bytes, checked against the manifest

    @property
    def id(self) -> str:
        return bundle.digest(self.manifest_bytes)


def check_member(m: tarfile.TarInfo) -> None:
    """Refuse a member before any of its data is read: only plain files (no sparse member,
    whose holes ``read()`` would fill in memory), none larger than the bundle format allows."""
    name = m.name
    if m.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or m.issparse():
        raise BundleError("malformed", f"member {name!r} is not a regular file")
    limit = bundle.MAX_MANIFEST_BYTES if name == MANIFEST else bundle.MAX_FILE_BYTES
    if m.size > limit:
        raise BundleError("too_large", f"member {name!r} of {m.size} bytes exceeds {limit}")


def read_members(data: bytes) -> dict[str, bytes]:
    """The members of a bundle tar by name, the layout and every declared size checked."""
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 - closed below
    except (tarfile.TarError, EOFError) as exc:
        raise BundleError("malformed", f"not an uncompressed tar file: {exc}") from None
    out: dict[str, bytes] = {}
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError) as exc:
            raise BundleError("malformed", f"the tar file is damaged: {exc}") from None
        total = 0
        for m in members:
            name = m.name
            check_member(m)
            if name != MANIFEST:
                if not name.startswith(FILES_PREFIX):
                    raise BundleError(
                        "malformed", f"member {name!r} is neither manifest.json nor files/<path>"
                    )
                try:
                    bundle.validate_path(name[len(FILES_PREFIX) :])
                except ProtocolError as exc:
                    raise BundleError("malformed", f"member {name!r}: {exc.message}") from None
            if name in out:
                raise BundleError("malformed", f"member {name!r} appears twice")
            total += m.size
            if total > MAX_TAR_CONTENT:
                raise BundleError(
                    "too_large", f"members hold more than {MAX_TAR_CONTENT} bytes in all"
                )
            handle = tar.extractfile(m)
            if handle is None:  # pragma: no cover - isreg() members always have data
                raise BundleError("malformed", f"member {name!r} has no data")
            try:
                out[name] = handle.read()
            except (tarfile.TarError, EOFError) as exc:
                raise BundleError("malformed", f"member {name!r} is damaged: {exc}") from None
    return out


def read_bundle(data: bytes, ops_public_key: bytes) -> BundleContent:
    """The checked content of a bundle file; BundleError (reason, one line) otherwise."""
    if len(data) > bundle.MAX_BUNDLE_BYTES + 65536:
        raise BundleError("too_large", f"bundle file of {len(data)} bytes is too large")
    members = read_members(data)
    raw = members.pop(MANIFEST, None)
    if raw is None:
        raise BundleError("malformed", "the bundle has no manifest.json")
    manifest = bundle.open(raw, ops_public_key)
    listed = {f["path"] for f in manifest["files"]}
    given = {name[len(FILES_PREFIX) :] for name in members}
    if listed - given:
        raise BundleError("malformed", "files missing: " + ", ".join(sorted(listed - given)[:5]))
    if given - listed:
        raise BundleError(
            "malformed", "files not in the manifest: " + ", ".join(sorted(given - listed)[:5])
        )
    files: dict[str, bytes] = {}
    buf = bytearray(4096)
    for entry in manifest["files"]:
        content = members[FILES_PREFIX + entry["path"]]
        bundle.check_file(io.BytesIO(content), entry, buf)
        files[entry["path"]] = content
    if manifest["min_hub"] > PROTOCOL_VERSION:
        raise BundleError(
            "hub_too_old",
            f"bundle needs hub protocol {manifest['min_hub']}, this hub speaks {PROTOCOL_VERSION}",
        )
    return BundleContent(raw, manifest, files)
