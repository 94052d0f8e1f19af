"""The import on PostgreSQL: the templates load, a re-run changes nothing, a file with bad
rows writes nothing, and export -> import -> export is identical across the two databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from hub.db import make_engine
from hub.migrations.runner import downgrade, upgrade
from tests.hub.onboarding.conftest import TEMPLATES, hub_command, row_counts
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Engine]:  # noqa: F811
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()
    downgrade(postgres_url)


def test_import_on_postgres(pg: Engine, postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    hub = hub_command(postgres_url)
    files = tmp_path / "files"
    files.mkdir()
    for p in TEMPLATES.glob("*.csv"):
        (files / p.name).write_bytes(p.read_bytes())
    with (files / "workers.csv").open("a", encoding="utf-8") as f:
        f.write("w9,赵六,,worker,true,33010600100109\n")  # line 7: no such grid
        f.write("w 10,钱七,,chief,true,\n")  # line 8: bad id, bad role
    before = row_counts(pg)
    refused = hub("import", files, "--tokens-out", tmp_path / "t.json")
    assert refused.exit_code == 1
    assert "workers.csv:7: column grid_codes: grid 33010600100109 is in neither" in refused.output
    assert "workers.csv:8: column id: 'w 10' is not a worker id" in refused.output
    assert "workers.csv:8: column role: 'chief' is not one of: worker, assistant" in (
        refused.output
    )
    assert row_counts(pg) == before
    with pg.connect() as conn:  # the transaction was rolled back, not left open
        assert conn.execute(text("select count(*) from pg_stat_activity where state = "
                                 "'idle in transaction'")).scalar_one() == 0  # fmt: skip

    result = hub("import", TEMPLATES, "--tokens-out", tmp_path / "t.json")
    assert result.exit_code == 0, result.output
    assert "grids.csv: 4 created, 0 updated, 0 unchanged" in result.output
    loaded = row_counts(pg)
    assert loaded["grids"] == 4 and loaded["workers"] == 5 and loaded["api_tokens"] == 4
    again = hub("import", TEMPLATES, "--tokens-out", tmp_path / "t.json")
    assert again.exit_code == 0 and "accounts.csv: 0 created, 0 updated, 4 unchanged" in (
        again.output
    )
    assert row_counts(pg) == loaded

    first, second = tmp_path / "pg-export", tmp_path / "sqlite-export"
    assert hub("export", first).exit_code == 0
    sqlite_url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(sqlite_url)
    lite = hub_command(sqlite_url)
    assert lite("import", first, "--tokens-out", tmp_path / "t2.json").exit_code == 0
    assert lite("export", second).exit_code == 0
    for p in first.glob("*.csv"):
        assert (second / p.name).read_bytes() == p.read_bytes(), p.name
