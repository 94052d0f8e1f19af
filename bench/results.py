"""The results layer of `python -m bench`: every module's figures as rows of one shape, one
summary table, and one JSON file per run under ``bench/results/``.

The contract a benchmark module follows (``bench.ingest_peers`` included):

* It is a module or package listed in ``bench.__main__.MODULES`` with a function ``run()``
  taking no arguments. A module that cannot be imported (``ModuleNotFoundError`` for the
  module itself) or has no ``run`` is reported "not present, skipped", never a failure.
* ``run()`` returns ``Report(table, rows)`` (any 2-tuple works): ``table`` is the module's
  own ``rich.table.Table``, printed as it is; ``rows`` is a list of ``Row`` (or of mappings
  with the same keys: ``suite``, ``name`` and ``value`` required) holding the same figures.
  A bare ``Table`` is still accepted (the summary then says the module gave no rows).
* A row is one figure: ``suite`` (the module's short name, e.g. ``"media"``), ``name`` (what
  was measured, short and unique within the suite), ``value`` (a number; ``None`` when the
  figure could not be taken, with the reason in ``details``), ``unit`` (``"ms"``, ``"/s"``,
  ``"B"``...). Where the module has a target: ``target`` (the human form, ``"< 500 ms"``) and
  ``passed`` (the module's own judgement, ``True`` / ``False``; ``None`` without a target).
  Where it has a ratio: ``ratio`` and ``baseline`` (what it is a ratio to, measured in the
  same run). ``headline=False`` keeps a row out of the summary table (it is still in the
  JSON); ``details`` is free-form JSON (percentiles, counts, settings of the run).
  ``Row.below(...)`` / ``Row.at_most(...)`` build a row with its target and verdict.
* ``run()`` raises when the benchmark itself broke (a component did not start, a count is
  wrong): ``python -m bench`` then prints the traceback, the module's summary row says
  ``failed: <one line>``, the other modules still run and the exit status is 1. A target
  missed is not an exception: it is ``passed=False`` in a row (exit status 2 when nothing
  failed).

The JSON (``write()``): ``{"schema", "date", "started", "seconds", "machine": {hostname, nproc,
cpu_model, memory_bytes, python, os, load_avg}, "git": {commit, short, branch, dirty},
"modules": [{name, status, seconds, error}], "rows": [...]}``, written to
``bench/results/<UTC date>-<short commit>[-dirty][-<modules>].json`` (the module list only when
a subset ran) and copied to ``bench/results/latest.json``. ``$GRIDLINK_BENCH_RESULTS`` names
another directory.
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = 1
ROW_FIELDS = ("suite", "name", "value", "unit", "target", "passed", "ratio", "baseline",
              "headline", "details")  # fmt: skip


@dataclass
class Row:
    """One figure of one benchmark (see the module docstring for the fields)."""

    suite: str
    name: str
    value: float | int | None
    unit: str = ""
    target: str | None = None
    passed: bool | None = None
    ratio: float | None = None
    baseline: str | None = None
    headline: bool = True
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def below(
        cls, suite: str, name: str, value: float | None, limit: float, unit: str, **kw: Any
    ) -> Row:
        """A row whose target is ``value < limit`` (a missing value fails)."""
        passed = value is not None and value < limit
        return cls(suite, name, value, unit, f"< {_num(limit)} {unit}".strip(), passed, **kw)

    @classmethod
    def at_most(
        cls, suite: str, name: str, value: float | None, limit: float, unit: str, **kw: Any
    ) -> Row:
        """A row whose target is ``value <= limit`` (a missing value fails)."""
        passed = value is not None and value <= limit
        return cls(suite, name, value, unit, f"<= {_num(limit)} {unit}".strip(), passed, **kw)

    @classmethod
    def of(cls, data: Row | Mapping[str, Any]) -> Row:
        """A ``Row`` from a row or a mapping with its keys (ValueError when it is neither)."""
        if isinstance(data, Row):
            return data
        if not isinstance(data, Mapping):
            raise ValueError(f"a row must be a Row or a mapping, not {type(data).__name__}")
        unknown = set(data) - set(ROW_FIELDS)
        missing = {"suite", "name", "value"} - set(data)
        if unknown or missing:
            raise ValueError(f"row {dict(data)!r}: unknown keys {unknown or '{}'}, "
                             f"missing {missing or '{}'}")  # fmt: skip
        return cls(**dict(data))

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(self.value, float) and not math.isfinite(self.value):
            out["value"] = None
        return out


class Report(NamedTuple):
    """What a module's ``run()`` returns: its own table and its figures as rows."""

    table: Table
    rows: list[Row]


@dataclass
class Outcome:
    """One module's run as ``python -m bench`` saw it."""

    name: str
    status: str  # ok | failed | absent
    seconds: float = 0.0
    table: Table | None = None
    rows: list[Row] = field(default_factory=list)
    error: str | None = None
    note: str | None = None  # why absent; or that run() gave no rows

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "seconds": round(self.seconds, 2),
                "error": self.error, "note": self.note, "rows": len(self.rows)}  # fmt: skip


def short(name: str) -> str:
    """The suite name of a module: ``bench.media`` -> ``media``."""
    return name.removeprefix("bench.")


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def run_module(name: str, importer: Any = None) -> Outcome:
    """Import ``name`` and call its ``run()``; never raises for the module's own failures."""
    import importlib

    importer = importer or importlib.import_module
    t0 = time.monotonic()
    try:
        module = importer(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return Outcome(name, "absent", note="not present, skipped")
        traceback.print_exc()
        return Outcome(name, "failed", time.monotonic() - t0, error=one_line(exc))
    except Exception as exc:  # noqa: BLE001 - one module's import error must not stop the rest
        traceback.print_exc()
        return Outcome(name, "failed", time.monotonic() - t0, error=one_line(exc))
    run = getattr(module, "run", None)
    if not callable(run):
        return Outcome(name, "absent", note="no run() yet, skipped")
    try:
        table, rows = _split(run())
    except Exception as exc:  # noqa: BLE001 - reported as the module's failure
        traceback.print_exc()
        return Outcome(name, "failed", time.monotonic() - t0, error=one_line(exc))
    out = Outcome(name, "ok", time.monotonic() - t0, table, rows)
    if not rows:
        out.note = "no rows (run() returned only its table)"
    return out


def _split(result: Any) -> tuple[Table | None, list[Row]]:
    if isinstance(result, Table):
        return result, []
    if isinstance(result, tuple) and len(result) == 2:
        table, rows = result
        if table is not None and not isinstance(table, Table):
            raise TypeError(f"run() returned a {type(table).__name__} where a Table belongs")
        if not isinstance(rows, Sequence) or isinstance(rows, str | bytes):
            raise TypeError(f"run() returned rows as a {type(rows).__name__}, not a list")
        return table, [Row.of(r) for r in rows]
    raise TypeError(f"run() returned a {type(result).__name__}, not (Table, rows)")


# --- the summary ------------------------------------------------------------------------------


def _num(v: float | int) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    a = abs(v)
    if v.is_integer() and a < 1e15:
        return f"{int(v):,}"
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def verdict(passed: bool | None) -> str:
    return {True: "[green]pass[/]", False: "[red]FAIL[/]", None: ""}[passed]


def summary(outcomes: list[Outcome]) -> Table:
    """One table: every module's headline rows (and every failing row), with targets."""
    t = Table(title="make bench: the summary (headline figures; every row is in the JSON)")
    for col in ("suite", "figure", "value", "unit", "target", "ratio", "result"):
        t.add_column(col, justify="right" if col in ("value", "ratio") else "left")
    for o in outcomes:
        if o.status != "ok":
            what = f"failed: {o.error}" if o.status == "failed" else str(o.note)
            t.add_row(short(o.name), what, "", "", "", "", verdict(False) if o.error else "")
            continue
        if not o.rows:
            t.add_row(short(o.name), str(o.note), "", "", "", "", "")
            continue
        for r in o.rows:
            if not r.headline and r.passed is not False:
                continue
            value = "-" if r.value is None else _num(r.value)
            if r.value is None and r.details.get("error"):
                value = f"error: {str(r.details['error'])[:60]}"
            ratio = "" if r.ratio is None else f"{_num(r.ratio)}x"
            if ratio and r.baseline:
                ratio = f"{ratio} {r.baseline}"
            t.add_row(r.suite, r.name, value, r.unit, r.target or "", ratio, verdict(r.passed))
    failed = [o.name for o in outcomes if o.status == "failed"]
    missed = sum(1 for o in outcomes for r in o.rows if r.passed is False)
    t.caption = (
        f"{len(outcomes)} modules: {sum(o.status == 'ok' for o in outcomes)} ran, "
        f"{len(failed)} failed, {sum(o.status == 'absent' for o in outcomes)} skipped; "
        f"{missed} figure(s) missed their target; total {sum(o.seconds for o in outcomes):.0f} s"
    )
    return t


def exit_status(outcomes: list[Outcome]) -> int:
    """1 when a module failed, 2 when all ran but a figure missed its target, else 0."""
    if any(o.status == "failed" for o in outcomes):
        return 1
    if any(r.passed is False for o in outcomes for r in o.rows):
        return 2
    return 0


# --- where, on what, at which commit ----------------------------------------------------------


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_info() -> dict[str, Any]:
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit,
        "short": commit[:7] if commit else None,
        "branch": _git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": None if status is None else bool(status),
    }


def _proc_field(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            k, _, v = line.partition(":")
            if k.strip() == key:
                return v.strip()
    except OSError:
        pass
    return None


def _os_name() -> str:
    pretty = None
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{pretty or platform.system()} ({platform.platform()})"


def machine_info() -> dict[str, Any]:
    mem = _proc_field("/proc/meminfo", "MemTotal")  # "24683972 kB"
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "hostname": socket.gethostname(),
        "nproc": affinity,
        "cpu_count": os.cpu_count(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or None,
        "memory_bytes": int(mem.split()[0]) * 1024 if mem else None,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": sys.executable,
        "os": _os_name(),
        "load_avg": load,  # at the start of the run: the machine is shared
    }


def results_dir() -> Path:
    env = os.environ.get("GRIDLINK_BENCH_RESULTS")
    return Path(env) if env else ROOT / "bench" / "results"


def document(
    outcomes: list[Outcome], *, started: datetime, machine: dict[str, Any], git: dict[str, Any],
    subset: list[str] | None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "schema": SCHEMA,
        "date": started.strftime("%Y-%m-%d"),
        "started": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        "command": "python -m bench" + ("".join(f" {short(n)}" for n in subset) if subset else ""),
        "machine": machine,
        "git": git,
        "exit_status": exit_status(outcomes),
        "modules": [o.as_json() for o in outcomes],
        "rows": [r.as_json() for o in outcomes for r in o.rows]
        + [
            Row(short(o.name), "run", None, passed=False, details={"failed": o.error}).as_json()
            for o in outcomes
            if o.status == "failed"
        ],  # fmt: skip
    }


def write(doc: dict[str, Any], directory: Path | None = None) -> tuple[Path, Path]:
    """Write the run's file and latest.json; returns both paths."""
    directory = directory or results_dir()
    directory.mkdir(parents=True, exist_ok=True)
    git = doc["git"]
    stem = f"{doc['date']}-{git.get('short') or 'nogit'}"
    if git.get("dirty"):
        stem += "-dirty"
    if doc["command"] != "python -m bench":
        stem += "-" + "+".join(doc["command"].split()[3:])
    text = json.dumps(doc, indent=1, ensure_ascii=False, default=str) + "\n"
    path = directory / f"{stem}.json"
    latest = directory / "latest.json"
    for p in (path, latest):
        tmp = p.with_suffix(".json.tmp")
        tmp.write_text(text)
        tmp.replace(p)
    return path, latest
