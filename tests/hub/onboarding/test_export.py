"""``gridlink hub export``: the same files back, no secrets; export -> import into an empty
hub -> export is identical; a generated district of 1,000 grids and 5,000 workers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hub.areas.models import Grid, Worker, WorkerGrid
from hub.auth.models import Role
from hub.auth.service import create_token
from hub.clock import FrozenClock
from hub.errors import ConflictError
from hub.migrations.runner import upgrade
from hub.onboarding.cells import unquote
from hub.seed import seed_demo
from tests.hub.onboarding.conftest import TEMPLATES, Hub, hub_command, row_counts
from tests.hub.onboarding.district import write_district


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.csv"))} | {
        p.name: p.read_bytes() for p in directory.glob("*.geojson")
    }


def test_export_import_export_is_identical(
    hub: Hub, tmp_path: Path, db_session: Session, clock: FrozenClock
) -> None:
    seed_demo(db_session=db_session, clock=clock)  # what the API made, not only an import
    db_session.commit()
    assert hub("import", TEMPLATES, "--tokens-out", tmp_path / "t.json").exit_code == 0
    first = tmp_path / "first"
    result = hub("export", first)
    assert result.exit_code == 0, result.output
    secrets = json.loads((tmp_path / "t.json").read_text("utf-8"))
    text = "".join(p.read_text("utf-8") for p in first.glob("*.csv"))
    assert not any(s in text for s in secrets.values()) and "glt_" not in text

    fresh_db = tmp_path / "fresh.db"
    upgrade(f"sqlite:///{fresh_db}")
    fresh = hub_command(f"sqlite:///{fresh_db}")
    loaded = fresh("import", first, "--tokens-out", tmp_path / "t2.json")
    assert loaded.exit_code == 0, loaded.output
    second = tmp_path / "second"
    assert fresh("export", second).exit_code == 0
    assert files_of(second) == files_of(first)
    assert set(files_of(first)) == {
        "areas.csv", "categories.csv", "grids.csv", "units.csv", "workers.csv", "accounts.csv",
        "grids.geojson",
    }  # fmt: skip
    grids = (second / "grids.csv").read_text("utf-8")
    assert "33010600100101,曙光新村第一网格,330106001001,30.272100,120.139500\n" in grids
    assert "Qinghefang Community grid 1" in grids  # the demo's rows too


def test_template_files_export_as_they_are(hub: Hub, tmp_path: Path) -> None:
    """The example set is in export order: a hub loaded from it exports the same bytes
    (categories: plus the gate-alarm ones every migrated hub has)."""
    assert hub("import", TEMPLATES, "--tokens-out", tmp_path / "t.json").exit_code == 0
    out = tmp_path / "out"
    assert hub("export", out, "--bom").exit_code == 0
    for name, data in files_of(TEMPLATES).items():
        exported = (out / name).read_bytes()
        if name.endswith(".geojson"):  # JSON takes no byte-order mark (RFC 8259)
            assert exported == data, name
            continue
        assert exported.startswith(b"\xef\xbb\xbf")
        if name == "categories.csv":
            lines = [ln for ln in exported[3:].splitlines(True) if not ln.startswith(b"access_")]
            assert b"".join(lines) == data
        else:
            assert exported[3:] == data, name


def test_a_district_of_1000_grids_and_5000_workers(
    hub: Hub, tmp_path: Path, engine: Engine, db_session: Session
) -> None:
    counts = write_district(tmp_path / "district")
    assert counts["grids"] == 1000 and counts["workers"] == 5000
    result = hub("import", tmp_path / "district", "--tokens-out", tmp_path / "t.json")
    assert result.exit_code == 0, result.output
    assert "workers.csv: 5000 created, 0 updated, 0 unchanged" in result.output
    assert db_session.scalar(select(func.count()).select_from(Grid)) == 1000
    assert db_session.scalar(select(func.count()).select_from(Worker)) == 5000
    links = db_session.scalar(select(func.count()).select_from(WorkerGrid))
    assert links == 5500  # every tenth worker serves two grids
    assert db_session.get(Worker, "w001001010") is not None
    before = row_counts(engine)
    again = hub("import", tmp_path / "district", "--tokens-out", tmp_path / "t.json")
    assert again.exit_code == 0, again.output
    assert "workers.csv: 0 created, 0 updated, 5000 unchanged" in again.output
    assert "grids.csv: 0 created, 0 updated, 1000 unchanged" in again.output
    assert row_counts(engine) == before
    out = tmp_path / "out"
    assert hub("export", out).exit_code == 0
    for name in ("grids.csv", "workers.csv"):
        assert (out / name).read_bytes() == (tmp_path / "district" / name).read_bytes()


def test_a_chinese_name_round_trips(hub: Hub, tmp_path: Path) -> None:
    files = tmp_path / "files"
    shutil.copytree(TEMPLATES, files)
    name = "曙光新村第一网格（含“银杏苑”，逗号,与换行\n之后）"
    grids = (files / "grids.csv").read_text("utf-8").replace("曙光新村第一网格", f'"{name}"', 1)
    (files / "grids.csv").write_text(grids, "utf-8")
    assert hub("import", files, "--tokens-out", tmp_path / "t.json").exit_code == 0
    out = tmp_path / "out"
    assert hub("export", out).exit_code == 0
    assert (out / "grids.csv").read_text("utf-8") == grids


FORMULAS = {  # worker id -> (name, phone): text a spreadsheet would run
    "w-eq": ('=HYPERLINK("http://x","点我")', "+8613800000009"),
    "w-at": ("@SUM(1)", "-1"),
    "w-q": ("'已有撇号", ""),
    "w-qq": ("''=两个", ""),  # written by hand with the mark: read as '=两个
}


def test_formula_like_text_is_quoted_and_round_trips(
    hub: Hub, tmp_path: Path, engine: Engine
) -> None:
    files = tmp_path / "files"
    shutil.copytree(TEMPLATES, files)
    with (files / "workers.csv").open("a", encoding="utf-8") as f:
        for wid, (name, phone) in FORMULAS.items():
            quoted = name.replace('"', '""')
            f.write(f'{wid},"{quoted}",{phone},worker,true,33010600100101\n')
    with (files / "grids.csv").open("a", encoding="utf-8") as f:
        f.write("33010600100103,-第三网格,330106001001,,\n")
    loaded = hub("import", files, "--tokens-out", tmp_path / "t.json")
    assert loaded.exit_code == 0, loaded.output
    with Session(engine) as s:  # read as written: no quote mark is added on the way in
        for wid, (name, phone) in FORMULAS.items():
            w = s.get(Worker, wid)
            assert w is not None and (w.name, w.phone or "") == (unquote(name), phone)
    first = tmp_path / "first"
    assert hub("export", first).exit_code == 0
    workers = (first / "workers.csv").read_text("utf-8")
    assert """w-eq,"'=HYPERLINK(""http://x"",""点我"")",'+8613800000009,""" in workers
    assert "w-at,'@SUM(1),'-1," in workers
    assert "w-q,''已有撇号,," in workers and "w-qq,''=两个,," in workers  # stored: '=两个
    assert "33010600100103,'-第三网格," in (first / "grids.csv").read_text("utf-8")
    for line in "".join(p.read_text("utf-8") for p in first.glob("*.csv")).splitlines():
        for cell in line.split(","):
            assert not cell.lstrip('"').startswith(("=", "+", "@")), line
    fresh_db = tmp_path / "fresh.db"
    upgrade(f"sqlite:///{fresh_db}")
    fresh = hub_command(f"sqlite:///{fresh_db}")
    assert fresh("import", first, "--tokens-out", tmp_path / "t2.json").exit_code == 0
    second = tmp_path / "second"
    assert fresh("export", second).exit_code == 0
    assert files_of(second) == files_of(first)


def test_a_second_live_token_with_one_name_is_refused(
    hub: Hub, tmp_path: Path, db_session: Session, clock: FrozenClock
) -> None:
    """The name is an account's key: the database holds one live token per name (issue 12),
    so the export never meets two."""
    made = create_token(
        db_session=db_session, name="值班员", role=Role.admin, scope_code=None, clock=clock
    )[0]
    with pytest.raises(ConflictError):
        create_token(
            db_session=db_session, name="值班员", role=Role.admin, scope_code=None, clock=clock
        )
    db_session.commit()
    out = tmp_path / "out"
    assert hub("export", out).exit_code == 0
    assert "值班员,admin,,," in (out / "accounts.csv").read_text("utf-8")
    assert made.revoked_at is None
