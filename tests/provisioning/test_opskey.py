"""``gridlink provision opskey``: the seed file (0600, one line), its public key, refusals."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from typer.testing import CliRunner

from gridlink.cli import app
from protocol import crypto
from provisioning import opskey


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["provision", *args], env={"GRIDLINK_ADMIN_TOKEN": ""})
    return result.exit_code, result.stdout, result.stderr


def one_error(code: int, stderr: str) -> str:
    assert code == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_init_makes_a_private_key_file_and_prints_only_the_public_key(tmp_path: Path) -> None:
    key = tmp_path / "ops.key"
    code, stdout, stderr = run("opskey", "init", "--out", str(key))
    assert code == 0, stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    text = key.read_text()
    assert text.endswith("\n") and text.count("\n") == 1 and len(text.strip()) == 64
    seed = bytes.fromhex(text.strip())
    pub = crypto.public_key(seed).hex()
    assert stdout.strip().splitlines()[-1] == pub
    assert seed.hex() not in stdout + stderr
    assert opskey.load_seed(key) == seed

    code, stdout, _ = run("opskey", "pub", str(key))
    assert code == 0 and stdout.strip() == pub
    assert seed.hex() not in stdout


def test_init_refuses_to_replace_a_key(tmp_path: Path) -> None:
    key = tmp_path / "ops.key"
    assert run("opskey", "init", "--out", str(key))[0] == 0
    before = key.read_bytes()
    line = one_error(*run("opskey", "init", "--out", str(key))[::2])
    assert (
        line == f"error: {key} exists: an ops key is never replaced (devices trust its public key)"
    )
    assert key.read_bytes() == before


def test_bad_key_files_are_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.key"
    assert "does not exist (make one with `gridlink provision opskey init`)" in one_error(
        *run("opskey", "pub", str(missing))[::2]
    )
    open_key = tmp_path / "open.key"
    open_key.write_text(crypto.new_seed().hex() + "\n")
    os.chmod(open_key, 0o644)
    line = one_error(*run("opskey", "pub", str(open_key))[::2])
    assert (
        line
        == f"error: ops key {open_key} is open to other users (mode 0644): chmod 600 {open_key}"
    )
    for bad in ("abc\n", "zz" * 32 + "\n", (crypto.new_seed().hex() + "\n") * 2, "\xff\xfe"):
        path = tmp_path / "bad.key"
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, bad.encode("latin-1"))
        os.close(fd)
        assert "not a key file" in one_error(*run("opskey", "pub", str(path))[::2]), bad
    public = crypto.public_key(crypto.new_seed()).hex()
    assert opskey.check_public(public.upper()) == public
