"""Run code on the MicroPython unix port with the firmware import layout.

MICROPYPATH is set to ``.frozen:<tree>/lib:<tree>``, where <tree> is the firmware compiled to
bytecode (provisioning.mpy, as a board holds it), so that ``import mqtt`` / ``import outbox``
(lib/), ``import hal`` / ``import apps`` and ``from protocol import envelope`` all work. Under
CPython the same modules are imported from source (cpython_path).
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from simulator import fleet
from tests.support.mosquitto import preexec_for_thread

REPO = Path(__file__).resolve().parents[2]
MICROPYTHON = os.environ.get("GRIDLINK_MICROPYTHON") or str(REPO / ".venv" / "bin" / "micropython")
if not Path(MICROPYTHON).exists():  # pragma: no cover - outside the project venv
    MICROPYTHON = str(Path(sys.executable).with_name("micropython"))

FIRMWARE_PATHS = (REPO / "firmware" / "lib", REPO / "firmware", REPO)


def micropypath(extra: list[str | os.PathLike] | None = None) -> str:
    return fleet.micropypath([str(p) for p in extra or ()])


def cpython_path() -> list[str]:
    """The same layout for running firmware modules under CPython (sys.path entries)."""
    return [str(p) for p in FIRMWARE_PATHS]


def _env(env: dict | None, extra_path: list | None) -> dict:
    full = dict(os.environ)
    full["MICROPYPATH"] = micropypath(extra_path)
    if env:
        full.update(env)
    return full


def _script(script: str | os.PathLike) -> tuple[str, str | None]:
    """Return (path, private directory to delete) for a script given as text or a path.

    A script given as text is written into a directory of its own: MicroPython puts the
    script's directory first on sys.path, so a script in a shared directory (/tmp) would import
    whatever lies next to it (a stray /tmp/acl/ once shadowed the firmware's acl module)."""
    if isinstance(script, os.PathLike) or (
        isinstance(script, str) and "\n" not in script and script.endswith(".py")
    ):
        return str(script), None
    tmp = tempfile.mkdtemp(prefix="mpy-")
    path = os.path.join(tmp, "script.py")
    with open(path, "w") as f:
        f.write(script)
    return path, tmp


def command(path: str, heapsize: str | None = "192K", args: list[str] | None = None) -> list[str]:
    cmd = [MICROPYTHON]
    if heapsize:
        cmd += ["-X", f"heapsize={heapsize}"]
    return [*cmd, path, *(args or [])]


def run_micropython(
    script: str | os.PathLike,
    heapsize: str | None = "192K",
    cwd: str | os.PathLike | None = None,
    env: dict | None = None,
    timeout: float = 60,
    args: list[str] | None = None,
    extra_path: list | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess:
    """Run a script (source text or a .py path) to completion; capture text stdout/stderr."""
    path, tmp = _script(script)
    try:
        proc = subprocess.run(
            command(path, heapsize, args),
            cwd=cwd,
            env=_env(env, extra_path),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"micropython exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n"
            f"{proc.stderr}"
        )
    return proc


def start_micropython(
    script: str | os.PathLike,
    heapsize: str | None = "192K",
    cwd: str | os.PathLike | None = None,
    env: dict | None = None,
    args: list[str] | None = None,
    extra_path: list | None = None,
    **popen: object,
) -> subprocess.Popen:
    """Start a script in the background (stdout/stderr piped as text lines unless overridden).

    The caller must kill it (``proc.kill(); proc.wait()``). A script given as text is written
    to a private temporary directory that stays until the interpreter exits
    (``proc.script_path``; the caller removes ``proc.script_dir`` when it is not None).
    """
    path, tmp = _script(script)
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    popen.setdefault("text", True)
    popen.setdefault("preexec_fn", preexec_for_thread())
    proc = subprocess.Popen(
        command(path, heapsize, args), cwd=cwd, env=_env(env, extra_path), **popen
    )
    proc.script_path = path  # type: ignore[attr-defined]
    proc.script_dir = tmp  # type: ignore[attr-defined]
    return proc


def _lines(proc: subprocess.Popen) -> queue.Queue:
    # One reader thread per process: select() on a buffered pipe misses lines already buffered.
    q = getattr(proc, "_line_queue", None)
    if q is None:
        q = proc._line_queue = queue.Queue()  # type: ignore[attr-defined]

        def pump() -> None:
            for line in proc.stdout:
                q.put(line.rstrip("\n"))
            q.put(None)

        threading.Thread(target=pump, daemon=True).start()
    return q


def read_until(proc: subprocess.Popen, marker: str, timeout: float = 15) -> list[str]:
    """Read proc's stdout lines until one starts with marker; return all lines read."""
    q = _lines(proc)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = q.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"timeout waiting for {marker!r}; got {lines[-20:]}") from None
        if line is None:
            q.put(None)
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"ended before {marker!r}; got {lines[-20:]}\n{err[-3000:]}")
        lines.append(line)
        if line.startswith(marker):
            return lines
