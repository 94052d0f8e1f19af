"""``gridlink provision bundle`` / provisioning.bundle: a signed bundle built from the tree.

The file list, every file's hash and size, the exact tar layout of the contract
(manifest.json + files/<path>, nothing else), the manifest opened with protocol.bundle, a file
altered after the build refused by protocol.bundle's check, the operator's mistakes as one line
(a missing / open / bad key file, an existing --out, a version the tree does not have), and
the seed never printed nor written outside its key file.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridlink.cli import app
from protocol import bundle as pb
from protocol import crypto
from provisioning.bundle import (
    BundleBuildError,
    build_bundle,
    firmware_files,
    read_bundle,
    source_version,
)

REPO = Path(__file__).resolve().parents[2]
VERSION = source_version(REPO)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["provision", *args], env={"GRIDLINK_ADMIN_TOKEN": ""})
    return result.exit_code, result.stdout, result.stderr


def one_error(code: int, stderr: str) -> str:
    assert code == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def key_file(path: Path, seed: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, seed.hex().encode() + b"\n")
    os.close(fd)
    return path


def tree_copy(dst: Path) -> Path:
    """A copy of the source tree as --src takes it (firmware/, protocol/)."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "firmware", dst / "firmware", ignore=ignore)
    shutil.copytree(REPO / "protocol", dst / "protocol", ignore=ignore)
    return dst


def test_firmware_files_is_what_a_device_runs() -> None:
    files = firmware_files(REPO)
    paths = [p for _, p in files]
    assert paths == sorted(paths) and len(paths) == len(set(paths))
    assert "main.py" in paths and "lib/device.mpy" in paths and "protocol/bundle.mpy" in paths
    assert any(p.startswith("hal/") for p in paths) and any(p.startswith("apps/") for p in paths)
    for src, path in files:
        assert "__pycache__" not in path and "loader" not in path, path
        assert not path.startswith("tests/")
        if path == "main.py":  # a board runs it as source
            assert src.read_bytes() == (REPO / "firmware" / "main.py").read_bytes()
        else:  # the rest is MicroPython bytecode (mpy v6), named for its source
            assert path.endswith(".mpy") and src.read_bytes()[:2] == b"M\x06", path
            assert (REPO / _source_of(path[: -len(".mpy")] + ".py")).is_file(), path
    expected = {"main.py"}
    for sub in ("lib", "hal", "apps"):
        expected |= {
            f"{sub}/{p.relative_to(REPO / 'firmware' / sub).with_suffix('.mpy').as_posix()}"
            for p in (REPO / "firmware" / sub).rglob("*.py")
            if "__pycache__" not in p.parts
        }
    expected |= {f"protocol/{p.stem}.mpy" for p in (REPO / "protocol").glob("*.py")}
    assert set(paths) == expected


def _source_of(path: str) -> str:
    return path if path.startswith("protocol/") else f"firmware/{path}"


def test_a_syntax_error_in_the_firmware_is_one_line(tmp_path: Path) -> None:
    src = tree_copy(tmp_path / "src")
    (src / "firmware" / "lib" / "broken.py").write_text("def f(:\n    pass\n")
    with pytest.raises(BundleBuildError) as err:
        firmware_files(src)
    msg = str(err.value)
    assert "\n" not in msg and "broken.py" in msg and "SyntaxError" in msg, msg


def test_an_edited_source_is_compiled_again(tmp_path: Path) -> None:
    src = tree_copy(tmp_path / "src")
    before = dict((p, s.read_bytes()) for s, p in firmware_files(src))
    cfg = src / "firmware" / "lib" / "config.py"
    cfg.write_text(cfg.read_text() + "\nEXTRA = 1\n")
    after = dict((p, s.read_bytes()) for s, p in firmware_files(src))
    assert after["lib/config.mpy"] != before["lib/config.mpy"]
    assert {p for p in after if after[p] != before[p]} == {"lib/config.mpy"}


def test_the_loader_is_never_in_a_bundle(tmp_path: Path) -> None:
    src = tree_copy(tmp_path / "src")
    (src / "firmware" / "loader.py").write_text("import sys\n")
    assert not any("loader" in p for _, p in firmware_files(src))


def test_build_signs_every_file_in_the_contract_layout(tmp_path: Path) -> None:
    seed = crypto.new_seed()
    out = tmp_path / "fw.glb"
    sealed = build_bundle(
        REPO, out, version=VERSION, kinds=["handheld", "access"], hw=["sim-unix"], ops_seed=seed
    )
    manifest = pb.open(sealed, crypto.public_key(seed))
    assert manifest["version"] == VERSION and manifest["name"] == "gridlink-fw"
    assert manifest["kinds"] == ["handheld", "access"] and manifest["hw"] == ["sim-unix"]
    files = firmware_files(REPO)
    assert [f["path"] for f in manifest["files"]] == [p for _, p in files]
    for (src, _), entry in zip(files, manifest["files"], strict=True):
        data = src.read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["size"] == len(data)

    with tarfile.open(out, mode="r:") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == ["manifest.json"] + [f"files/{f['path']}" for f in manifest["files"]]
        for m in members:
            assert m.isreg() and m.mode == 0o644 and m.mtime == 0 and m.uid == m.gid == 0
        assert tar.extractfile("manifest.json").read() == sealed  # type: ignore[union-attr]
    raw = out.read_bytes()
    for m in members:  # one POSIX ustar header each, no pax / GNU extension headers
        assert raw[m.offset + 257 : m.offset + 265] == b"ustar\x0000"
        assert m.offset_data - m.offset == 512
    assert seed.hex().encode() not in raw and seed not in raw

    # read back: the same manifest and files; a second build is byte for byte the same
    got_manifest, got_files = read_bundle(out)
    assert got_manifest == sealed
    assert got_files == {p: s.read_bytes() for s, p in files}
    again = tmp_path / "again.glb"
    build_bundle(
        REPO, again, version=VERSION, kinds=["handheld", "access"], hw=["sim-unix"], ops_seed=seed
    )
    assert again.read_bytes() == raw


def _rewrite(src: Path, dst: Path, change: dict[str, bytes | None], extra=()) -> None:
    with (
        tarfile.open(src, mode="r:") as tin,
        tarfile.open(dst, mode="w", format=tarfile.USTAR_FORMAT) as tout,
    ):
        for m in tin.getmembers():
            data = tin.extractfile(m).read()  # type: ignore[union-attr]
            if m.name in change:
                if change[m.name] is None:
                    continue
                data = change[m.name]
            m.size = len(data)
            tout.addfile(m, io.BytesIO(data))
        for info, data in extra:
            tout.addfile(info, io.BytesIO(data) if data is not None else None)


def test_a_file_changed_after_the_build_fails_the_check(tmp_path: Path) -> None:
    src = tree_copy(tmp_path / "src")
    seed = crypto.new_seed()
    out = tmp_path / "fw.glb"
    sealed = build_bundle(src, out, version=VERSION, kinds=["handheld"], hw=["*"], ops_seed=seed)
    manifest = pb.open(sealed, crypto.public_key(seed))
    entry = next(f for f in manifest["files"] if f["path"] == "lib/device.mpy")
    buf = bytearray(512)

    # the file changed after the build: its bytes no longer match the signed manifest
    (target,) = [s for s, p in firmware_files(src) if p == "lib/device.mpy"]
    data = bytearray(target.read_bytes())
    data[100] ^= 0x01
    with pytest.raises(pb.BundleError) as err:
        pb.check_file(io.BytesIO(bytes(data)), entry, buf)
    assert err.value.reason == "bad_file"

    # one altered byte inside the bundle: read_bundle and protocol.bundle refuse it
    altered = tmp_path / "altered.glb"
    _rewrite(out, altered, {"files/lib/device.mpy": bytes(data)})
    with pytest.raises(BundleBuildError) as built:
        read_bundle(altered)
    assert str(built.value) == (
        f"bundle {altered}: bad_file: file lib/device.mpy does not match the manifest"
    )
    _, files = read_bundle(out)
    with pytest.raises(pb.BundleError) as err:
        pb.check_file(io.BytesIO(bytes(data)), entry, buf)
    assert err.value.reason == "bad_file"
    pb.check_file(io.BytesIO(files["lib/device.mpy"]), entry, buf)  # the original passes

    # and a manifest altered by one byte no longer verifies
    forged = sealed.replace(b'"hw":["*"]', b'"hw":["x"]')
    with pytest.raises(pb.BundleError) as err:
        pb.open(forged, crypto.public_key(seed))
    assert err.value.reason == "bad_signature"


def test_read_bundle_refuses_anything_but_the_layout(tmp_path: Path) -> None:
    out = tmp_path / "fw.glb"
    build_bundle(
        REPO, out, version=VERSION, kinds=["handheld"], hw=["*"], ops_seed=crypto.new_seed()
    )
    cases = {
        "missing": ({"files/main.py": None}, (), "files/main.py is missing"),
        "no-manifest": ({"manifest.json": None}, (), "no manifest.json"),
        "extra": (
            {},
            [(_info("files/evil.py", 3), b"x=1")],
            "files/evil.py is not in the manifest",
        ),
        "other": ({}, [(_info("README", 1), b"x")], "unexpected member 'README'"),
        "dotdot": ({}, [(_info("files/../x.py", 1), b"x")], "files/../x.py is not in the manifest"),
        "link": ({}, [(_link("files/lib/x.py"), None)], "'files/lib/x.py' is not a plain file"),
    }
    for name, (change, extra, message) in cases.items():
        bad = tmp_path / f"{name}.glb"
        _rewrite(out, bad, change, extra)
        with pytest.raises(BundleBuildError) as err:
            read_bundle(bad)
        assert message in str(err.value), (name, str(err.value))
    junk = tmp_path / "junk.glb"
    junk.write_bytes(b"not a tar" * 100)
    with pytest.raises(BundleBuildError, match="not a tar file"):
        read_bundle(junk)


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


def _link(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"
    return info


def test_cli_builds_a_bundle_and_never_shows_the_seed(tmp_path: Path) -> None:
    key = tmp_path / "ops.key"
    code, stdout, stderr = run("opskey", "init", "--out", str(key))
    assert code == 0, stderr
    seed = key.read_text().strip()
    out = tmp_path / "fw.glb"
    src = tree_copy(tmp_path / "src")
    code, stdout, stderr = run(
        "bundle", "--version", VERSION, "--kinds", "handheld,access,face,barrier", "--hw",
        "sim-unix", "--ops-key", str(key), "--out", str(out), "--src", str(src),
    )  # fmt: skip
    assert code == 0, stdout + stderr
    sealed, _ = read_bundle(out)
    assert f"id {pb.digest(sealed)}" in stdout
    pb.open(sealed, crypto.public_key(bytes.fromhex(seed)))
    assert seed not in stdout + stderr
    for path in tmp_path.rglob("*"):
        if path.is_file() and path != key:
            data = path.read_bytes()
            assert seed.encode() not in data and bytes.fromhex(seed) not in data, path


def test_cli_mistakes_are_one_line(tmp_path: Path) -> None:
    seed = crypto.new_seed()
    key = key_file(tmp_path / "ops.key", seed)
    out = tmp_path / "fw.glb"
    base = ["bundle", "--hw", "sim-unix", "--ops-key", str(key), "--out", str(out)]
    # a missing key file, a key file others can read, a key file that is not a key
    missing = tmp_path / "nope.key"
    line = one_error(*run(*base[:3], "--ops-key", str(missing), "--out", str(out))[::2])
    assert line == (
        f"error: ops key {missing} does not exist (make one with `gridlink provision opskey init`)"
    )
    shared = tmp_path / "shared.key"
    shared.write_text(seed.hex() + "\n")
    os.chmod(shared, 0o640)
    assert "chmod 600" in one_error(
        *run(*base[:3], "--ops-key", str(shared), "--out", str(out))[::2]
    )
    wrong = key_file(tmp_path / "wrong.key", b"")
    wrong.write_text("-----BEGIN PRIVATE KEY-----\n")
    assert "not a key file" in one_error(
        *run(*base[:3], "--ops-key", str(wrong), "--out", str(out))[::2]
    )
    assert not out.exists()
    # a version the tree does not say, a bad kind, a bad hardware name
    line = one_error(*run(*base, "--version", "9.9.9")[::2])
    assert f"says VERSION = '{VERSION}', not '9.9.9'" in line
    assert "unknown device kind 'toaster'" in one_error(*run(*base, "--kinds", "toaster")[::2])
    assert "forbidden character" in one_error(*run(*base[:1], "--hw", "a b", *base[3:])[::2])
    assert not out.exists()
    # a tree that is not one
    assert "not a Gridlink source tree" in one_error(*run(*base, "--src", str(tmp_path))[::2])
    # the default version is the tree's; then an existing --out is never replaced
    code, stdout, stderr = run(*base)
    assert code == 0, stdout + stderr
    before = out.read_bytes()
    line = one_error(*run(*base)[::2])
    assert line == f"error: {out} exists: choose another --out"
    assert out.read_bytes() == before
    with pytest.raises(BundleBuildError, match="exists"):
        build_bundle(REPO, out, version=VERSION, kinds=["handheld"], hw=["*"], ops_seed=seed)
    assert out.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_read_bundle_refuses_sparse_and_oversized_members_before_reading(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "manifest.json").write_bytes(b"{}")
    with open(tmp_path / "files" / "x", "wb") as f:
        f.truncate(256 * 1024 * 1024)
    sparse = tmp_path / "sparse.glb"
    subprocess.run(
        ["tar", "--format=gnu", "-S", "-cf", str(sparse), "manifest.json", "files/x"],
        cwd=tmp_path,
        check=True,
    )
    assert sparse.stat().st_size < 64 * 1024
    with pytest.raises(BundleBuildError, match="'files/x' is not a plain file"):
        read_bundle(sparse)
    big = tmp_path / "big.glb"
    with tarfile.open(big, "w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(_info("manifest.json", 2), io.BytesIO(b"{}"))
        tar.addfile(
            _info("files/big.py", pb.MAX_FILE_BYTES + 1), io.BytesIO(b"x" * (pb.MAX_FILE_BYTES + 1))
        )
    with pytest.raises(BundleBuildError, match=r"'files/big.py' of 524289 bytes is too large"):
        read_bundle(big)
