"""`gridlink hub import` of a district: 1,000 grids and 5,000 workers (tests/hub/onboarding/
district.py, Chinese names) into a migrated SQLite file (WAL, synchronous=FULL).

    .venv/bin/python -m bench.hub_import

Times the import (read the six CSV files, validate every row against the database and the
files, bulk upsert, one commit), the re-run of the same files (everything unchanged) and the
export; and, as the baseline of the same run, a plain ``executemany`` insert of the same rows
(already parsed, no validation) into another fresh database, one transaction. Writes the
figures to $GRIDLINK_BENCH_OUT (default <tmp>/gridlink-bench)/hub_import.json with the ratio
import / baseline. Exits 1 if the import takes a minute or more or a count is wrong.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import func, insert, select

from bench.gate_lists import out_dir
from bench.results import Report, Row
from hub.areas.models import Area, Grid, Unit, UnitResponsibility, Worker, WorkerGrid
from hub.cases.models import Category
from hub.clock import SystemClock
from hub.db import make_engine, make_session_factory
from hub.migrations.runner import upgrade
from hub.onboarding import flows
from hub.onboarding.export import export
from hub.onboarding.rows import collect
from tests.hub.onboarding.district import district_rows, write_district

LIMIT_S = 60.0


def _import(url: str, files: Path) -> tuple[float, dict[str, str]]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    t = time.perf_counter()
    paths, unknown = collect(files, {})
    assert not unknown, unknown
    with factory() as db_session:
        problems, result = flows.run(
            db_session=db_session, sheets=flows.read_sheets(paths), clock=SystemClock()
        )
        assert not problems and result is not None, problems[:5]
        db_session.commit()
    elapsed = time.perf_counter() - t
    engine.dispose()
    return elapsed, {kind: str(c) for kind, c in result.counts.items()}


def _baseline(url: str) -> tuple[float, int]:
    """The same rows by plain executemany: no parsing, no checks, no comparison."""
    rows = district_rows()
    now = SystemClock().now()
    engine = make_engine(url)
    units = [{"id": i + 1, "area_code": a, "name": n, "kind": k}
             for i, (a, n, k, _c) in enumerate(rows["units"])]  # fmt: skip
    duties = [
        {"unit_id": i + 1, "area_code": a, "category_code": None if c == "*" else c}
        for i, (a, _n, _k, cats) in enumerate(rows["units"])
        for c in cats.split(";")
    ]
    t = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            insert(Area),
            [
                {"code": c, "name": n, "level": lv, "parent_code": p or None}
                for c, n, lv, p in rows["areas"]
            ],
        )
        conn.execute(
            insert(Category).prefix_with("OR IGNORE"),
            [
                {"code": c, "name": n, "deadline_hours": int(h), "active": True}
                for c, n, h, _a in rows["categories"]
            ],
        )
        conn.execute(
            insert(Grid),
            [
                {"code": c, "name": n, "community_code": cc}
                for c, n, cc, _lat, _lon in rows["grids"]
            ],
        )
        conn.execute(insert(Unit), units)
        conn.execute(insert(UnitResponsibility), duties)
        conn.execute(
            insert(Worker),
            [
                {"id": i, "name": n, "phone": p, "role": r, "active": True, "created_at": now}
                for i, n, p, r, _a, _g in rows["workers"]
            ],
        )
        conn.execute(insert(WorkerGrid), [{"worker_id": i, "grid_code": g}
                                          for i, _n, _p, _r, _a, gs in rows["workers"]
                                          for g in gs.split(";")])  # fmt: skip
    elapsed = time.perf_counter() - t
    with engine.connect() as conn:
        workers = conn.execute(select(func.count()).select_from(Worker)).scalar_one()
    engine.dispose()
    return elapsed, workers


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sizes = write_district(root / "district")
        url, base_url = f"sqlite:///{root / 'hub.db'}", f"sqlite:///{root / 'base.db'}"
        upgrade(url)
        upgrade(base_url)
        first_s, first = _import(url, root / "district")
        again_s, again = _import(url, root / "district")
        engine = make_engine(url)
        t = time.perf_counter()
        with make_session_factory(engine)() as db_session:
            exported = export(db_session=db_session, directory=root / "export")
        export_s = time.perf_counter() - t
        with engine.connect() as conn:
            workers = conn.execute(select(func.count()).select_from(Worker)).scalar_one()
            grids = conn.execute(select(func.count()).select_from(Grid)).scalar_one()
        engine.dispose()
        base_s, base_workers = _baseline(base_url)
    r: dict[str, Any] = {
        "rows": sizes,
        "import_s": round(first_s, 3),
        "rerun_s": round(again_s, 3),
        "export_s": round(export_s, 3),
        "baseline_s": round(base_s, 3),
        "import_vs_baseline": round(first_s / base_s, 1),
        "rows_per_s": round(sum(sizes.values()) / first_s),
        "first": first,
        "rerun": again,
        "exported": exported,
        "counts_ok": workers == base_workers == 5000 and grids == 1000,
    }
    (out_dir() / "hub_import.json").write_text(json.dumps(r, indent=1, ensure_ascii=False))
    return r


def ok(r: dict[str, Any]) -> bool:
    unchanged = all(v.startswith("0 created, 0 updated") for v in r["rerun"].values())
    return bool(r["counts_ok"]) and unchanged and r["import_s"] < LIMIT_S


def table(r: dict[str, Any]) -> Table:
    n = r["rows"]
    t = Table(
        title=f"gridlink hub import: {n['grids']:,} grids, {n['workers']:,} workers, "
        f"{n['areas']} areas, {n['units']} units (SQLite WAL, synchronous=FULL)"
    )
    for col in ("measure", "seconds", "vs baseline"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    base = r["baseline_s"] or 1e-9
    t.add_row("import: read, validate every row, bulk upsert, commit", str(r["import_s"]),
              f"{r['import_vs_baseline']}x")  # fmt: skip
    t.add_row("re-run of the same files (all unchanged)", str(r["rerun_s"]),
              f"{round(r['rerun_s'] / base, 1)}x")  # fmt: skip
    t.add_row("export of the six files", str(r["export_s"]), f"{round(r['export_s'] / base, 1)}x")
    t.add_row("baseline: plain executemany of the parsed rows", str(r["baseline_s"]), "1.0x")
    t.caption = (
        f"{r['rows_per_s']:,} rows/s imported; limit {LIMIT_S:.0f} s; "
        f"{'counts and re-run OK' if ok(r) else 'FAILED: ' + json.dumps(r['rerun'])}"
    )
    return t


def result_rows(r: dict[str, Any]) -> list[Row]:
    s, base = "hub_import", r["baseline_s"] or 1e-9
    imported = Row.below(s, "import of the district (1,000 grids, 5,000 workers)", r["import_s"],
                         LIMIT_S, "s", ratio=r["import_vs_baseline"],
                         baseline="plain executemany",
                         details={"rows": r["rows"], "counts_ok": r["counts_ok"],
                                  "rows_per_s": r["rows_per_s"], "first": r["first"]})  # fmt: skip
    imported.passed = ok(r)  # the limit, the counts and an unchanged re-run
    return [
        imported,
        Row(s, "re-run of the same files (all unchanged)", r["rerun_s"], "s",
            ratio=round(r["rerun_s"] / base, 1), baseline="plain executemany",
            details={"rerun": r["rerun"]}),
        Row(s, "export of the six files", r["export_s"], "s", headline=False,
            ratio=round(r["export_s"] / base, 1), baseline="plain executemany",
            details={"exported": r["exported"]}),
        Row(s, "baseline: plain executemany of the parsed rows", r["baseline_s"], "s",
            headline=False),
    ]  # fmt: skip


def run() -> Report:
    """For `python -m bench`: the table and rows."""
    r = measure()
    return Report(table(r), result_rows(r))


def main() -> int:
    from rich.console import Console

    r = measure()
    Console(width=140).print(table(r))
    return 0 if ok(r) else 1


if __name__ == "__main__":
    sys.exit(main())
