"""``gridlink hub passwd ACCOUNT``: the password from standard input or a terminal prompt,
never from the command line; operator mistakes are one line."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gridlink.cli import app as gridlink_app
from hub.seed import DemoData
from hub.settings import Settings
from tests.support.waiting import wait_until

ACCOUNT = "street-330102001-operator"


@pytest.fixture(autouse=True)
def _env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDLINK_ENV", "development")
    monkeypatch.setenv("GRIDLINK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("GRIDLINK_DATA_DIR", str(settings.data_dir))


def signs_in(client: TestClient, password: str) -> bool:
    resp = client.post("/api/session", json={"account": ACCOUNT, "password": password})
    return resp.status_code == 201


def test_passwd_reads_standard_input(client: TestClient, demo: DemoData) -> None:
    result = CliRunner().invoke(
        gridlink_app, ["hub", "passwd", ACCOUNT], input="from stdin, long enough\n"
    )
    assert result.exit_code == 0, result.output
    assert f"password set for {ACCOUNT}" in result.output
    assert signs_in(client, "from stdin, long enough")
    assert not signs_in(client, "from stdin, long enough\n")


@pytest.mark.parametrize(
    ("account", "stdin", "needle"),
    [
        (ACCOUNT, "short\n", "the password is too short: at least 12 characters"),
        (ACCOUNT, "", "no password on standard input"),
        ("nobody-here", "long enough password\n", "account 'nobody-here' not found"),
    ],
)
def test_passwd_mistakes_are_one_line(
    client: TestClient, demo: DemoData, account: str, stdin: str, needle: str
) -> None:
    result = CliRunner().invoke(gridlink_app, ["hub", "passwd", account], input=stdin)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {needle}"), result.stderr
    assert not signs_in(client, "long enough password")


def test_passwd_prompts_twice_on_a_terminal(
    client: TestClient, demo: DemoData, tmp_path: Path
) -> None:
    main, tty = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridlink.cli", "hub", "passwd", ACCOUNT],
        stdin=tty,
        stdout=tty,
        stderr=tty,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    seen = bytearray()

    def read_until(text: bytes) -> bool:
        if text not in seen and select.select([main], [], [], 0.2)[0]:
            try:
                seen.extend(os.read(main, 4096))
            except OSError:  # the child closed the terminal
                pass
        return text in seen

    def echo_off() -> bool:  # getpass flushes what was typed before it turned echo off
        return not termios.tcgetattr(tty)[3] & termios.ECHO

    try:
        for prompt in (b"new password", b"Repeat"):
            wait_until(f"the prompt {prompt!r}", lambda p=prompt: read_until(p), timeout=60)
            wait_until("echo off", echo_off, timeout=30, detail=lambda: seen)
            os.write(main, b"typed on a terminal\n")
        assert proc.wait(timeout=60) == 0, seen.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(tty)
        os.close(main)
    assert b"typed on a terminal" not in seen  # not echoed
    assert signs_in(client, "typed on a terminal")
