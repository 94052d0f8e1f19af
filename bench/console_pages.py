"""The console's pages with 50,000 cases: a generated district (tests/hub/onboarding/district.py:
1,000 grids, 5,000 workers, Chinese names) imported into a migrated database, 50,000 cases
bulk-inserted through SQLAlchemy core (spread over grids, categories, statuses, levels and
deadlines over the last 90 days, each with its timeline rows), then the hub served by uvicorn
in its own process and every call a console page makes timed over HTTP, signed in with a
password (session cookie):

    .venv/bin/python -m bench.console_pages [--cases 50000] [--n 40] [--postgres URL]

``REQUESTS`` is the one list of what the queue, the case page and the dashboard call (edit it
when the API changes). Each request runs ``--n`` times after one warm-up, for the district
admin (every case) and for a street operator (its street only); the baseline of the same run is
``/api/me`` (session lookup and JSON, no case data). Prints the table, writes
$GRIDLINK_BENCH_OUT (default <tmp>/gridlink-bench)/console_pages.json, and says pass / fail:
every p95 under 300 ms. Exits 1 on a failure or a non-200 answer.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.table import Table
from sqlalchemy import Engine, insert, select, text

from bench.gate_lists import out_dir
from bench.results import Report, Row
from hub.areas.models import Grid, Unit, WorkerGrid
from hub.auth import passwords
from hub.cases.models import Case, CaseTransition, Category
from hub.clock import SystemClock
from hub.db import make_engine, make_session_factory
from hub.migrations.runner import upgrade
from hub.onboarding import flows
from hub.onboarding.rows import collect
from hub.settings import Settings
from tests.hub.onboarding.district import write_district
from tests.support.net import free_port

LIMIT_MS = 300.0
ADMIN = "余杭区管理员"
STREET = "第1街道值班员"
PASSWORD = "bench console pages 50k"
# What each page calls, in one place: (page, what, path). {case} is a case of the reader's
# area, {month} the current month (the dashboard always asks for one month). The queue's
# search (q=) is the queue engineer's addition: an API without it ignores the parameter (the
# request is then the default queue again). "all 5,000" is the full ranking (not on screen).
REQUESTS: list[tuple[str, str, str]] = [
    ("queue", "page HTML (/console)", "/console"),
    ("queue", "default sort", "/api/cases"),
    ("queue", "status filter", "/api/cases?status=handling"),
    ("queue", "overdue filter", "/api/cases?overdue=true"),
    ("queue", "text search", "/api/cases?q=%E4%BA%95%E7%9B%96"),
    ("queue", "page 100", "/api/cases?offset=5000&limit=50"),
    ("case", "case with timeline", "/api/cases/{case}"),
    ("dashboard", "board (month)", "/api/stats/board?month={month}"),
    ("dashboard", "workers (month, top 100)", "/api/stats/workers?month={month}&limit=100"),
    ("dashboard", "workers (month, all 5,000)", "/api/stats/workers?month={month}"),
    ("dashboard", "units (month)", "/api/stats/units?month={month}"),
]
BASELINE = "/api/me"
STATUSES = [  # (status, share)
    ("closed", 30),
    ("evaluated", 25),
    ("handling", 12),
    ("dispatched", 10),
    ("feedback", 5),
    ("verifying", 3),
    ("pending_acceptance", 4),
    ("filed", 1),
    ("voided", 4),
    ("parked", 2),
]
CHAIN = [  # the timeline up to each status: (action, from, to)
    ("collect", None, "pending_acceptance"),
    ("file", "pending_acceptance", "filed"),
    ("dispatch", "filed", "dispatched"),
    ("accept", "dispatched", "handling"),
    ("feedback", "handling", "feedback"),
    ("request_verification", "feedback", "verifying"),
    ("close", "verifying", "closed"),
    ("rate", "closed", "evaluated"),
]
TEXTS = ["井盖缺失", "垃圾堆放", "路灯不亮", "违章停车", "道路破损", "占道经营", "绿化损坏"]


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


def seed_cases(engine: Engine, count: int, now: datetime, seed: int = 12) -> dict[str, Any]:
    """``count`` cases with their timelines, bulk-inserted; returns what the requests need."""
    rng = random.Random(seed)
    with engine.connect() as conn:
        grids = [g for (g,) in conn.execute(select(Grid.code).order_by(Grid.code))]
        units = {a: i for i, a in conn.execute(select(Unit.id, Unit.area_code).order_by(Unit.id))}
        categories = {c: h for c, h in conn.execute(select(Category.code, Category.deadline_hours))}
        workers: dict[str, list[str]] = {}
        for w, g in conn.execute(select(WorkerGrid.worker_id, WorkerGrid.grid_code)):
            workers.setdefault(g, []).append(w)
        first_id = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM cases")).scalar_one() + 1
    cases: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    for n in range(count):
        cid = first_id + n
        grid = rng.choice(grids)
        status = _pick(rng, STATUSES)
        category = rng.choice(list(categories))
        reported = now - timedelta(seconds=rng.randrange(90 * 86400))
        deadline = reported + timedelta(hours=categories[category] * rng.uniform(1.5, 3.5))
        level = _pick(rng, [("community", 80), ("street", 15), ("district", 5)])
        unit = units.get(grid[:12]) or units.get(grid[:9]) or units.get(grid[:6])
        worker = rng.choice(workers.get(grid) or [None])  # type: ignore[list-item]
        closed = status in ("closed", "evaluated")
        closed_at = reported + timedelta(hours=rng.uniform(1, 120)) if closed else None
        dispatched = status not in ("pending_acceptance", "filed", "voided")
        rework = 1 if closed and rng.random() < 0.08 else 0
        cases.append(
            {
                "id": cid,
                "source": "report",
                "status": status,
                "category_code": category,
                "text": f"{rng.choice(TEXTS)} 第{n}号",
                "grid_code": grid,
                "level": level,
                "unit_id": unit if dispatched else None,
                "lat_e6": 30_270_000 + rng.randrange(-50_000, 50_000),
                "lon_e6": 120_150_000 + rng.randrange(-50_000, 50_000),
                "acc_m": 8,
                "media": [],
                "reporter_worker_id": worker,
                "historical": False,
                "reported_at": reported,
                "created_at": reported,
                "updated_at": closed_at or reported,
                "deadline_start_at": reported if dispatched else None,
                "deadline_at": deadline if dispatched else None,
                "closed_at": closed_at,
                "closed_on_time": (closed_at <= deadline) if closed_at else None,
                "void_reason": "invalid" if status == "voided" else None,
                "supervised": False,
                "escalation_count": 1 if level != "community" else 0,
                "rework_count": rework,
                "satisfaction": rng.randint(2, 5) if status == "evaluated" else None,
            }
        )
        if status == "voided":
            chain = [CHAIN[0], ("void", "pending_acceptance", "voided")]
        elif status == "parked":
            chain = [*CHAIN[:3], ("park", "dispatched", "parked")]
        else:
            chain = CHAIN[: 1 + [to for _, _, to in CHAIN].index(status)]
        at = reported
        for action, src, dst in chain:
            actor = f"worker:{worker}" if action in ("collect", "close") else "operator:bench"
            steps.append(
                {
                    "case_id": cid,
                    "at": at,
                    "actor": actor,
                    "action": action,
                    "from_status": src,
                    "to_status": dst,
                    "level": level,
                    "unit_id": unit if action in ("dispatch", "accept") else None,
                    "reason": None,
                    "evidence": {},
                }
            )
            at = min(at + timedelta(hours=rng.uniform(0.1, 10)), closed_at or now)
        if rework:
            rejected = {"action": "reject", "from_status": "verifying", "to_status": "handling"}
            steps.append({**steps[-1], **rejected, "actor": f"worker:{worker}", "unit_id": unit})
    t = time.perf_counter()
    with engine.begin() as conn:
        for i in range(0, len(cases), 5000):
            conn.execute(insert(Case), cases[i : i + 5000])
        for i in range(0, len(steps), 20000):
            conn.execute(insert(CaseTransition), steps[i : i + 20000])
    return {
        "cases": len(cases),
        "transitions": len(steps),
        "insert_s": round(time.perf_counter() - t, 2),
        "admin_case": cases[len(cases) // 2]["id"],
        "street_case": next(c["id"] for c in cases if c["grid_code"].startswith("330110001")),
        "grids": len(grids),
    }


def prepare(url: str, root: Path, count: int) -> dict[str, Any]:
    upgrade(url)
    write_district(root / "district")
    engine = make_engine(url)
    factory = make_session_factory(engine)
    settings = Settings(env="development", data_dir=root, database_url=url)
    paths, _unknown = collect(root / "district", {})
    clock = SystemClock()
    with factory() as db_session:
        problems, _ = flows.run(db_session=db_session, sheets=flows.read_sheets(paths), clock=clock)
        assert not problems, problems[:3]
        for account in (ADMIN, STREET):
            passwords.set_password(
                db_session=db_session,
                account=account,
                password=PASSWORD,
                by="bench",
                scope_code=None,
                settings=settings,
                clock=clock,
            )
        db_session.commit()
    seeded = seed_cases(engine, count, clock.now())
    if url.startswith("postgresql"):
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return seeded


def serve(url: str, root: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GRIDLINK_ENV": "development",
        "GRIDLINK_DATABASE_URL": url,
        "GRIDLINK_DATA_DIR": str(root),
    }
    code = (
        "import uvicorn; from hub.app import create_app, settle_heap; "
        "from hub.settings import Settings; app = create_app(Settings()); settle_heap(); "
        f"uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning', access_log=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the hub exited with {proc.returncode}")
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the hub did not start within 60 s")


def _time(client: httpx.Client, path: str, n: int) -> dict[str, Any]:
    first = client.get(path)  # warm-up (and the status we report)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        resp = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        if resp.status_code != first.status_code:
            break
    times.sort()
    return {
        "status": first.status_code,
        "bytes": len(first.content),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], 1),
    }


def measure(count: int = 50_000, n: int = 40, postgres: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = postgres or f"sqlite:///{root / 'hub.db'}"
        t = time.perf_counter()
        seeded = prepare(url, root, count)
        seed_s = round(time.perf_counter() - t, 1)
        port = free_port()
        proc = serve(url, root, port)
        month = datetime.now(UTC).strftime("%Y-%m")
        results: list[dict[str, Any]] = []
        try:
            for reader, account, case in (
                ("admin", ADMIN, seeded["admin_case"]),
                ("street", STREET, seeded["street_case"]),
            ):
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                    signed = client.post(
                        "/api/session", json={"account": account, "password": PASSWORD}
                    )
                    signed.raise_for_status()
                    base = _time(client, BASELINE, n)
                    results.append({"reader": reader, "page": "baseline", "what": BASELINE,
                                    "path": BASELINE, **base})  # fmt: skip
                    for page, what, path in REQUESTS:
                        real = path.format(case=case, month=month)
                        results.append(
                            {
                                "reader": reader,
                                "page": page,
                                "what": what,
                                "path": real,
                                **_time(client, real, n),
                            }  # fmt: skip
                        )
        finally:
            proc.terminate()
            proc.wait(10)
    r: dict[str, Any] = {
        "database": "postgresql" if postgres else "sqlite",
        "seeded": seeded,
        "seed_s": seed_s,
        "n": n,
        "limit_ms": LIMIT_MS,
        "results": results,
    }
    (out_dir() / "console_pages.json").write_text(json.dumps(r, indent=1, ensure_ascii=False))
    return r


def ok(r: dict[str, Any]) -> bool:
    return all(x["status"] == 200 and x["p95_ms"] < LIMIT_MS for x in r["results"])


def table(r: dict[str, Any]) -> Table:
    s = r["seeded"]
    t = Table(
        title=f"console pages: {s['cases']:,} cases, {s['transitions']:,} timeline rows, "
        f"{s['grids']:,} grids ({r['database']}, hub over HTTP, signed in; {r['n']} requests each)"
    )
    for col in ("reader", "page", "request", "status", "KB", "p50 ms", "p95 ms", "vs baseline"):
        t.add_column(col, justify="left" if col in ("reader", "page", "request") else "right")
    base = {x["reader"]: x["p50_ms"] for x in r["results"] if x["page"] == "baseline"}
    for x in r["results"]:
        bad = x["status"] != 200 or x["p95_ms"] >= LIMIT_MS
        t.add_row(x["reader"], x["page"], x["what"], str(x["status"]),
                  f"{x['bytes'] / 1024:.1f}", str(x["p50_ms"]),
                  f"[red]{x['p95_ms']}[/]" if bad else str(x["p95_ms"]),
                  f"{x['p50_ms'] / (base[x['reader']] or 1e-9):.1f}x")  # fmt: skip
    t.caption = (
        f"seeded in {r['seed_s']} s (cases + timelines inserted in {s['insert_s']} s); "
        f"limit p95 < {LIMIT_MS:.0f} ms: {'PASS' if ok(r) else 'FAIL'}"
    )
    return t


def result_rows(r: dict[str, Any]) -> list[Row]:
    s, db = "console_pages", r["database"]
    base = {x["reader"]: x["p50_ms"] for x in r["results"] if x["page"] == "baseline"}
    out = []
    for x in r["results"]:
        keep = {k: x[k] for k in ("path", "status", "bytes", "p50_ms")}
        row = Row.below(s, f"{x['reader']} {x['page']}: {x['what']} p95 ({db})", x["p95_ms"],
                        LIMIT_MS, "ms", ratio=round(x["p50_ms"] / (base[x["reader"]] or 1e-9), 1),
                        baseline=f"{BASELINE} p50", headline=False, details=keep)  # fmt: skip
        row.passed = bool(row.passed) and x["status"] == 200
        out.append(row)
    per_request = list(zip(out, r["results"], strict=True))
    for reader in base:
        mine = [row for row, x in per_request if x["reader"] == reader]
        worst = max(mine, key=lambda row: row.value or 0)
        out.append(Row.below(s, f"{reader}: slowest request p95 ({db})", worst.value, LIMIT_MS,
                             "ms", details={"request": worst.name, "cases": r["seeded"]["cases"],
                                            "all_pass": all(m.passed for m in mine)}))  # fmt: skip
        out[-1].passed = all(m.passed for m in mine)
    return out


def run() -> Report:
    """For `python -m bench`: the table and rows (on PostgreSQL instead of SQLite when
    GRIDLINK_BENCH_POSTGRES_URL is set)."""
    r = measure(postgres=os.environ.get("GRIDLINK_BENCH_POSTGRES_URL") or None)
    return Report(table(r), result_rows(r))


def main() -> int:
    from rich.console import Console

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--n", type=int, default=40, help="requests per measure")
    parser.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database")
    args = parser.parse_args()
    r = measure(args.cases, args.n, args.postgres)
    Console(width=150).print(table(r))
    return 0 if ok(r) else 1


if __name__ == "__main__":
    sys.exit(main())
