"""The case queue API (``GET /api/cases``) at 50,000 cases: the time of each typical request
and the query plans behind it (SQLite, or PostgreSQL with ``--database-url``).

    python -m bench.queue_api [--cases 50000] [--database-url postgresql+psycopg://...] [--plans]

The cases are bulk-inserted into a fresh database (migrated by Alembic, the demo's areas,
units and tokens): 70 % closed, evaluated or voided, 12 % with a running deadline (a third of
them overdue), the rest waiting in the other open states, spread over the demo's grids,
categories, units and the last 180 days.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from rich.table import Table
from sqlalchemy import Engine, event, insert, text

from hub.app import create_app
from hub.cases.models import Case, Category
from hub.clock import FrozenClock
from hub.db import make_engine, make_session_factory
from hub.migrations.runner import upgrade
from hub.seed import DemoData, seed_demo
from hub.settings import Settings

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
DONE = ["closed"] * 5 + ["evaluated"] * 4 + ["voided"]
OTHER_OPEN = ["pending_acceptance", "filed", "feedback", "verifying", "parked"]
TEXTS = ["井盖缺失", "路面破损 pothole", "占道经营", "垃圾堆放 50% full", "违章停车 no_parking"]


def bulk_cases(engine: Engine, demo: DemoData, count: int, now: datetime, seed: int = 12) -> None:
    """Insert ``count`` cases in batches (Core ``insert``: no ORM objects, no transitions)."""
    rnd = random.Random(seed)
    with engine.begin() as conn:
        categories = [
            r[0] for r in conn.execute(text(f"SELECT code FROM {Category.__tablename__}"))
        ]
    units = list(demo.units.values())
    batch: list[dict[str, Any]] = []
    for i in range(count):
        reported = now - timedelta(minutes=rnd.randrange(180 * 24 * 60))
        roll = rnd.random()
        row: dict[str, Any] = {
            "source": rnd.choice(["report"] * 6 + ["operator", "hotline", "alarm"]),
            "category_code": rnd.choice(categories),
            "text": f"{rnd.choice(TEXTS)} #{i}",
            "grid_code": rnd.choice(demo.grids),
            "level": rnd.choice(["community"] * 6 + ["street", "district"]),
            "unit_id": rnd.choice(units),
            "media": [],
            "reporter_worker_id": f"w{rnd.randrange(1, 400):05d}",
            "historical": False,
            "reported_at": reported,
            "created_at": reported,
            "updated_at": reported,
            "supervised": False,
            "escalation_count": 0,
            "rework_count": 0,
            "deadline_start_at": None,
            "deadline_at": None,
            "closed_at": None,
        }
        if roll < 0.70:
            row["status"] = rnd.choice(DONE)
            row["deadline_start_at"] = reported
            row["deadline_at"] = reported + timedelta(days=2)
            row["closed_at"] = reported + timedelta(hours=rnd.randrange(1, 72))
        elif roll < 0.82:
            row["status"] = rnd.choice(["dispatched", "handling"])
            start = now - timedelta(hours=rnd.randrange(1, 72))
            row["deadline_start_at"] = start
            row["deadline_at"] = start + timedelta(hours=rnd.randrange(8, 96))
        else:
            row["status"] = rnd.choice(OTHER_OPEN)
        batch.append(row)
        if len(batch) == 5000:
            with engine.begin() as conn:
                conn.execute(insert(Case), batch)
            batch = []
    if batch:
        with engine.begin() as conn:
            conn.execute(insert(Case), batch)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


@contextmanager
def recorded(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (with their parameters) run on ``engine`` inside the block."""
    seen: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "cases" in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def plan(engine: Engine, statement: str, params: Any) -> list[str]:
    """The query plan of one recorded statement, one line per step."""
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
            return [str(row[-1]) for row in cursor.fetchall()]
        cursor.execute("EXPLAIN " + statement, params)
        return [str(row[0]) for row in cursor.fetchall()]


REQUESTS = [
    ("default queue (district)", "district-operator", ""),
    ("default queue (street)", "street-330102001-operator", ""),
    ("status=dispatched", "district-operator", "status=dispatched"),
    ("status=filed&status=parked", "street-330102001-operator", "status=filed&status=parked"),
    ("page 400 of 1,000", "district-operator", "page=400"),
    ("overdue", "district-operator", "overdue=true"),
    ("near_deadline", "district-operator", "near_deadline=true"),
    ("sort=newest", "district-operator", "sort=newest"),
    ("q=井盖", "district-operator", "q=%E4%BA%95%E7%9B%96"),
    (
        "category+source+range",
        "district-operator",
        "category=road_damage&source=report&reported_from=2026-02-01&reported_to=2026-02-28",
    ),
]


def measure(
    database_url: str, cases: int, data_dir: Path, show_plans: bool = False
) -> tuple[Table, dict[str, list[str]]]:
    upgrade(database_url)
    clock = FrozenClock(NOW)
    engine = make_engine(database_url)
    with make_session_factory(engine)() as db_session:
        demo = seed_demo(db_session=db_session, clock=clock)
        db_session.commit()
    bulk_cases(engine, demo, cases, NOW)
    engine.dispose()
    settings = Settings(env="development", data_dir=data_dir, database_url=database_url)
    app = create_app(settings=settings, clock=clock)
    plans: dict[str, list[str]] = {}
    table = Table(title=f"GET /api/cases at {cases:,} cases ({app.state.engine.dialect.name})")
    for col in ("request", "total", "median ms", "max ms"):
        table.add_column(col, justify="left" if col == "request" else "right")
    with TestClient(app) as client:
        for label, account, query in REQUESTS:
            headers = {"Authorization": f"Bearer {demo.tokens[account]}"}
            url = "/api/cases?" + query
            client.get(url, headers=headers)  # warm the caches
            times = []
            for _ in range(7):
                started = time.perf_counter()
                resp = client.get(url, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                assert resp.status_code == 200, resp.text
            with recorded(app.state.engine) as seen:
                client.get(url, headers=headers)
            plans[label] = [
                line
                for statement, params in seen
                for line in plan(app.state.engine, statement, params)
            ]
            table.add_row(
                label,
                f"{resp.json()['total']:,}",
                f"{statistics.median(times):.1f}",
                f"{max(times):.1f}",
            )
            if show_plans:
                print(f"--- {label}")
                for statement, params in seen:
                    print("\n".join(plan(app.state.engine, statement, params)))
    app.state.engine.dispose()
    return table, plans


def run(cases: int = 50_000) -> Table:
    with tempfile.TemporaryDirectory() as tmp:
        return measure(f"sqlite:///{Path(tmp) / 'hub.db'}", cases, Path(tmp))[0]


if __name__ == "__main__":
    from rich.console import Console

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--plans", action="store_true", help="print each request's query plans")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'hub.db'}"
        Console(width=120).print(measure(url, args.cases, Path(tmp), args.plans)[0])
