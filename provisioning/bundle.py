"""Firmware bundles (``*.glb``): build and sign one from the source tree, read one back.

    build_bundle(REPO, Path("fw-0.2.0.glb"), version="0.2.0", kinds=["handheld"],
                 hw=["sim-unix"], ops_seed=opskey.load_seed(Path("ops.key")))

A bundle is an uncompressed POSIX (ustar) tar holding exactly ``manifest.json`` (the manifest
sealed by the ops key, protocol.bundle) and ``files/<path>`` for each file the manifest lists,
in its order: no directories, links or other members. Every header is fixed (mode 0644, owner
0, mtime 0), so the same tree, version and key give the same bytes (Ed25519 signatures are
deterministic). The loader (firmware/loader.py) is never part of a bundle: it is what rolls a
bad one back. docs/ota.md, "Bundles".
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

from protocol import bundle as pb
from protocol.errors import ProtocolError
from provisioning import mpy
from provisioning.errors import ProvisionError

MANIFEST = "manifest.json"
FILES = "files/"
_VERSION = re.compile(r'^VERSION = "([^"]*)"', re.M)
Progress = Callable[[str, int], None]  # (bundle path, bytes) of the file just added


class BundleBuildError(ProvisionError):
    pass


def firmware_files(repo_root: Path) -> list[tuple[Path, str]]:
    """(file, path in the slot) of everything a device runs, compiled (provisioning.mpy):
    main.py, lib/, hal/, apps/ and protocol/ as .mpy, sorted by slot path. Not the loader."""
    try:
        return mpy.firmware_files(repo_root)
    except mpy.CompileError as exc:
        raise BundleBuildError(str(exc)) from None


def source_version(repo_root: Path) -> str:
    """The firmware's VERSION (firmware/lib/config.py) in the tree at ``repo_root``."""
    path = Path(repo_root) / "firmware" / "lib" / "config.py"
    try:
        found = _VERSION.search(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleBuildError(
            f"{repo_root} is not a Gridlink source tree: no firmware/lib/config.py"
        ) from None
    except OSError as exc:
        raise BundleBuildError(f"{path}: {exc.strerror}") from None
    if found is None:
        raise BundleBuildError(f'{path} has no line VERSION = "M.m.p"')
    return found.group(1)


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_bundle(
    src_root: Path,
    out: Path,
    *,
    version: str,
    kinds: list[str],
    hw: list[str],
    ops_seed: bytes,
    name: str = "gridlink-fw",
    progress: Progress | None = None,
) -> bytes:
    """Build, sign and write the bundle of the tree at ``src_root`` to ``out`` (refused when
    ``out`` exists); returns the sealed manifest. ``version`` must be the tree's own VERSION:
    a device started without the loader reports that one."""
    out = Path(out)
    if out.exists():
        raise BundleBuildError(f"{out} exists: choose another --out (a bundle is never replaced)")
    if len(ops_seed) != 32:
        raise BundleBuildError("the ops key must be a 32-byte Ed25519 seed")
    in_tree = source_version(src_root)
    if in_tree != version:
        raise BundleBuildError(
            f"firmware/lib/config.py in {src_root} says VERSION = {in_tree!r}, not {version!r}:"
            " set it there (a device started without the loader reports it)"
        )
    files = firmware_files(src_root)
    contents: list[tuple[str, bytes]] = []
    entries = []
    try:
        for src, path in files:
            data = src.read_bytes()
            entries.append(pb.file_entry(path, hashlib.sha256(data).hexdigest(), len(data)))
            contents.append((path, data))
        manifest = pb.build(name, version, kinds, hw, entries)
        sealed = pb.seal(manifest, ops_seed)
    except OSError as exc:
        raise BundleBuildError(f"{exc.filename}: {exc.strerror}") from None
    except ProtocolError as exc:
        raise BundleBuildError(f"bundle: {exc.message}") from None
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(_info(MANIFEST, len(sealed)), io.BytesIO(sealed))
        for path, data in contents:  # the manifest's order (sorted by path)
            tar.addfile(_info(FILES + path, len(data)), io.BytesIO(data))
            if progress is not None:
                progress(path, len(data))
    _write_new(out, buf.getvalue())
    return sealed


def _write_new(out: Path, data: bytes) -> None:
    """Write ``out`` whole or not at all, never over an existing file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.link(tmp, out)  # fails when out appeared meanwhile: no overwrite
    except FileExistsError:
        raise BundleBuildError(f"{out} exists: choose another --out") from None
    except OSError as exc:
        raise BundleBuildError(f"{out}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)


def read_bundle(path: Path) -> tuple[bytes, dict[str, bytes]]:
    """(sealed manifest, {file path: bytes}) of a bundle file, its layout and every file's
    size and hash checked against the manifest (not the signature: that takes the ops public
    key, which the hub holds). BundleBuildError with one line naming what is wrong."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BundleBuildError(f"bundle {path}: {exc.strerror}") from None
    if size > pb.MAX_BUNDLE_BYTES + 65536:
        raise BundleBuildError(f"bundle {path}: {size} bytes, more than a bundle may hold")
    manifest: bytes | None = None
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:") as tar:
            total = 0
            for member in tar:
                if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or member.issparse():
                    raise BundleBuildError(f"bundle {path}: {member.name!r} is not a plain file")
                limit = pb.MAX_MANIFEST_BYTES if member.name == MANIFEST else pb.MAX_FILE_BYTES
                total += member.size
                if member.size > limit or total > pb.MAX_MANIFEST_BYTES + pb.MAX_BUNDLE_BYTES:
                    raise BundleBuildError(
                        f"bundle {path}: {member.name!r} of {member.size} bytes is too large"
                    )
                data = tar.extractfile(member)
                assert data is not None
                if member.name == MANIFEST and manifest is None:
                    manifest = data.read()
                elif member.name.startswith(FILES) and member.name[len(FILES) :] not in files:
                    files[member.name[len(FILES) :]] = data.read()
                else:
                    raise BundleBuildError(f"bundle {path}: unexpected member {member.name!r}")
    except tarfile.TarError as exc:
        raise BundleBuildError(f"bundle {path}: not a tar file ({exc})") from None
    if manifest is None:
        raise BundleBuildError(f"bundle {path}: no {MANIFEST}")
    try:
        m = pb.parse(manifest)
    except pb.BundleError as exc:
        raise BundleBuildError(f"bundle {path}: {exc.reason}: {exc.message}") from None
    listed = {f["path"] for f in m["files"]}
    for extra in sorted(set(files) - listed):
        raise BundleBuildError(f"bundle {path}: files/{extra} is not in the manifest")
    buf = bytearray(4096)
    for f in m["files"]:
        if f["path"] not in files:
            raise BundleBuildError(f"bundle {path}: files/{f['path']} is missing")
        try:
            pb.check_file(io.BytesIO(files[f["path"]]), f, buf)
        except pb.BundleError as exc:
            raise BundleBuildError(f"bundle {path}: {exc.reason}: {exc.message}") from None
    return manifest, files
