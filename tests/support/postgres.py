"""A throw-away PostgreSQL server for tests and the bench: a fresh cluster made with the local
``initdb`` / ``pg_ctl`` on a free port, stopped and removed on exit.

    with postgres.server() as url:  # postgresql+psycopg://gridlink@127.0.0.1:<port>/postgres
        upgrade(url)

As root the server runs as the ``postgres`` user (or ``nobody`` when there is none), in a
temporary directory that user owns: PostgreSQL refuses to run as root. No psycopg, no server
binaries or a cluster that does not start: ``Unavailable``, with the reason (tests turn it
into ``require("postgres", ...)``, tests/support/components.py).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.net import free_port


class Unavailable(RuntimeError):
    """No PostgreSQL server can be started here (the message says why)."""


def _unprivileged_user() -> pwd.struct_passwd:
    """Who runs PostgreSQL when we are root (it refuses to run as root)."""
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise Unavailable("running as root and there is neither a 'postgres' nor a 'nobody' user")


def binaries() -> tuple[str, str]:
    """(initdb, pg_ctl); Debian keeps them off PATH, in /usr/lib/postgresql/<major>/bin."""
    search = os.pathsep.join(
        [os.environ.get("PATH", ""), *map(str, sorted(Path("/usr/lib/postgresql").glob("*/bin")))]
    )
    initdb, pg_ctl = shutil.which("initdb", path=search), shutil.which("pg_ctl", path=search)
    if not initdb or not pg_ctl:
        raise Unavailable("no PostgreSQL: set GRIDLINK_TEST_POSTGRES_URL or install postgresql")
    return initdb, pg_ctl


@contextmanager
def server(*settings: str) -> Iterator[str]:
    """A running cluster (``fsync=off``; ``settings``: more ``name=value`` server settings);
    yields its SQLAlchemy URL (user ``gridlink``, trust auth, database ``postgres``)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise Unavailable("psycopg not installed: pip install -e '.[postgres]'") from None
    initdb, pg_ctl = binaries()
    prefix: list[str] = []
    owner = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        owner = _unprivileged_user()
        prefix = ["runuser", "-u", owner.pw_name, "--"]
    base = Path(tempfile.mkdtemp(prefix="gridlink-pg-"))
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    data, port = base / "data", free_port()
    options = " ".join(
        [f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"]
        + [f"-c {s}" for s in settings]
    )
    try:
        subprocess.run(
            [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "gridlink", "--no-sync",
             "-E", "UTF8"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-o", options,
             "start"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        out = (getattr(exc, "stderr", b"") or b"").decode(errors="replace")
        log = base / "log"
        if log.exists():
            out += log.read_text(errors="replace")
        _stop(prefix, pg_ctl, data)
        shutil.rmtree(base, ignore_errors=True)
        raise Unavailable(f"could not start a PostgreSQL cluster: {exc}\n{out[-2000:]}") from exc
    try:
        yield f"postgresql+psycopg://gridlink@127.0.0.1:{port}/postgres"
    finally:
        _stop(prefix, pg_ctl, data)
        shutil.rmtree(base, ignore_errors=True)


def _stop(prefix: list[str], pg_ctl: str, data: Path) -> None:
    if (data / "postmaster.pid").exists():
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
