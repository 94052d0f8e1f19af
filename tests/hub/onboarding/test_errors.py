"""Bad input: every bad row listed (file, line, column, what), nothing written; the encoding
and header rules; operator mistakes as one line through the ``gridlink`` command."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gridlink.cli import app as gridlink_app
from hub.areas.models import Area
from hub.onboarding import flows
from hub.onboarding.rows import Problem
from tests.hub.onboarding.conftest import TEMPLATES, Hub, row_counts


def problems(output: str) -> list[str]:
    return [line for line in output.splitlines() if ".csv" in line and ": " in line]


def test_every_bad_row_is_listed_and_nothing_is_written(
    hub: Hub, tmp_path: Path, engine: Engine
) -> None:
    files = tmp_path / "files"
    shutil.copytree(TEMPLATES, files)
    with (files / "grids.csv").open("a", encoding="utf-8") as f:
        f.write("3301,坏网格,330106001001,,\n")  # line 6
        f.write("33010600100103,错社区,330106001002,,\n")  # 7
        f.write("33010600100101,重复网格,330106001001,,\n")  # 8: code of line 2
        f.write("33010600300101,无社区,330106003001,91.5,\n")  # 9
    with (files / "areas.csv").open("a", encoding="utf-8") as f:
        f.write("330106003,新街道,community,330106\n")  # 8
        f.write("330106001003,新社区,community,330106\n")  # 9
    with (files / "workers.csv").open("a", encoding="utf-8") as f:
        f.write("w1,某人,,boss,maybe,33010699999999\n")  # 7
    with (files / "accounts.csv").open("a", encoding="utf-8") as f:
        f.write("某账户,root,330106,,\n")  # 6
        f.write("无范围值班员,operator,,,\n")  # 7
    with (files / "units.csv").open("a", encoding="utf-8") as f:
        f.write("330106,某局,bureau,garbage;garbage;parking\n")  # 8
    before = row_counts(engine)
    result = hub("import", files, "--tokens-out", tmp_path / "t.json")
    assert result.exit_code == 1, result.output
    assert problems(result.output) == [
        "areas.csv:8: column level: 'community' does not fit code 330106003 (9 digits: street "
        "or township)",
        "areas.csv:9: column parent_code: '330106' does not fit 330106001003: its parent is "
        "the street or township 330106001 (the code's first 9 digits)",
        "grids.csv:6: column code: '3301' is not a 14-digit code",
        "grids.csv:7: column community_code: '330106001002': grid 33010600100103 lies in "
        "community 330106001001 (its first 12 digits)",
        "grids.csv:8: column code: duplicate of line 2",
        "grids.csv:9: column community_code: community 330106003001 is in neither the "
        "database nor areas.csv",
        "grids.csv:9: column lat: 91.5 is out of range (-90 to 90)",
        "units.csv:8: column categories: 'garbage' is listed twice",
        "units.csv:8: column categories: category 'parking' is in neither the database nor "
        "categories.csv",
        "units.csv:8: column kind: 'bureau' is not one of: functional, territorial",
        "workers.csv:7: column active: 'maybe' is not true or false",
        "workers.csv:7: column grid_codes: grid 33010699999999 is in neither the database "
        "nor grids.csv",
        "workers.csv:7: column role: 'boss' is not one of: worker, assistant",
        "accounts.csv:6: column role: 'root' is not one of: admin, operator, unit",
        "accounts.csv:7: column scope_code: is empty: an account of role operator needs an "
        "area scope",
    ]
    assert "15 problems: nothing was written" in result.output
    assert row_counts(engine) == before
    assert not (tmp_path / "t.json").exists()


def test_references_resolve_against_the_database(hub: Hub, tmp_path: Path) -> None:
    """Grids whose community was loaded by an earlier run (not in this run's files)."""
    assert hub("import", "--file", f"areas={TEMPLATES / 'areas.csv'}").exit_code == 0
    grids = hub("import", "--file", f"grids={TEMPLATES / 'grids.csv'}")
    assert grids.exit_code == 0, grids.output
    orphan = tmp_path / "workers.csv"
    orphan.write_text("id,name,grid_codes\nw9,赵六,33010600100109\n", "utf-8")
    refused = hub("import", "--file", f"workers={orphan}")
    assert refused.exit_code == 1
    assert problems(refused.output) == [
        "workers.csv:2: column grid_codes: grid 33010600100109 is in neither the database "
        "nor grids.csv"
    ]


def test_thousands_of_errors_are_capped_with_a_count(
    hub: Hub, tmp_path: Path, engine: Engine
) -> None:
    bad = tmp_path / "grids.csv"
    bad.write_text(
        "code,name,community_code\n" + "".join(f"{i},网格{i},1\n" for i in range(3000)), "utf-8"
    )
    before = row_counts(engine)
    result = hub("import", "--file", f"grids={bad}", "--show-errors", "20")
    assert result.exit_code == 1
    assert len(problems(result.output)) == 20
    assert "3000 problems (2980 more not shown): nothing was written" in result.output
    assert row_counts(engine) == before


def test_bom_accepted_and_cells_trimmed(hub: Hub, tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    text = (TEMPLATES / "areas.csv").read_text("utf-8").replace(",", " , ")
    (files / "areas.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = hub("import", files)
    assert result.exit_code == 0, result.output
    assert "areas.csv: 6 created" in result.output


def test_header_and_shape_errors(hub: Hub, tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "areas.csv").write_text("code,name,colour\n330106,西湖区,红\n", "utf-8")
    (files / "grids.csv").write_text("code,name,community_code\n33010600100101,网格\n", "utf-8")
    (files / "workers.csv").write_bytes("id,name\nw1,王伟\nw2,".encode() + b"\xcd\xf5\n")
    (files / "people.csv").write_text("id\n", "utf-8")
    (files / "notes.txt").write_text("ignored: not a .csv file\n", "utf-8")
    result = hub("import", files)
    assert result.exit_code == 1
    assert problems(result.output) == [
        "people.csv: unknown file (the files are: areas.csv, categories.csv, grids.csv, "
        "units.csv, workers.csv, accounts.csv)",
        "areas.csv:1: column colour: unknown column (expected: code, name, level, parent_code)",
        "areas.csv:1: column level: required column missing from header",
        "grids.csv:2: 2 fields, the header has 3",
        "workers.csv:3: not UTF-8 (byte 0xcd); save the file as UTF-8",
    ]


def test_problem_text() -> None:
    assert str(Problem("grids.csv", 17, "code", "'3301' is not a 14-digit code")) == (
        "grids.csv:17: column code: '3301' is not a 14-digit code"
    )
    assert str(Problem("grids.csv", 0, None, "empty")) == "grids.csv: empty"


def test_operator_mistakes_are_one_line(tmp_path: Path, settings_url: str) -> None:
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(gridlink_app, ["hub", *args])
        return result.exit_code, result.output

    code, out = run("import", str(tmp_path / "nowhere"), "--database-url", settings_url)
    assert (code, out.strip()) == (1, f"error: {tmp_path / 'nowhere'}: no such directory")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = run("import", str(empty), "--database-url", settings_url)
    assert code == 1 and out.count("\n") == 1 and "none of the files areas.csv" in out
    code, out = run("import", "--file", "grids", "--database-url", settings_url)
    assert code == 1 and "expected KIND=PATH" in out and out.count("\n") == 1
    code, out = run("import", "--file", f"grids={tmp_path / 'g.csv'}", "--database-url",
                    settings_url)  # fmt: skip
    assert (code, out.strip()) == (1, f"error: {tmp_path / 'g.csv'}: no such file")
    (empty / "grids.csv").mkdir()
    code, out = run("import", str(empty), "--database-url", settings_url)
    assert (code, out.strip()) == (1, f"error: {empty / 'grids.csv'}: not a file")
    unmigrated = f"sqlite:///{tmp_path / 'nothing.db'}"
    code, out = run("import", str(TEMPLATES), "--database-url", unmigrated)
    assert code == 1 and out.startswith("error: no database at") and out.count("\n") == 1
    blank = tmp_path / "blank.db"
    blank.touch()
    code, out = run("import", str(TEMPLATES), "--database-url", f"sqlite:///{blank}")
    assert code == 1 and out.count("\n") == 1 and "migrate" in out
    code, out = run("export", str(TEMPLATES), "--database-url", settings_url)
    assert code == 1 and "exists: export into an empty directory" in out


def test_docs_document_every_column() -> None:
    from hub.onboarding.templates import TEMPLATES as SPECS
    from tests.hub.onboarding.conftest import ROOT

    doc = (ROOT / "docs" / "onboarding.md").read_text("utf-8")
    for template in SPECS.values():
        section = doc.split(f"### {template.filename}", 1)[1].split("\n### ", 1)[0]
        documented = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]
        assert documented == list(template.names), template.kind
        header = (TEMPLATES / template.filename).read_text("utf-8").splitlines()[0]
        assert header.split(",") == list(template.names)


def test_a_database_failure_mid_load_leaves_nothing(
    tmp_path: Path, engine: Engine, settings_url: str
) -> None:
    """Areas, grids and units are written when the workers' insert fails in the database:
    the one transaction rolls back all of it, and the tokens file (its tokens never
    committed) is removed."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_worker BEFORE INSERT ON workers WHEN NEW.name = '刘洋' "
            "BEGIN SELECT RAISE(ABORT, 'worker refused by trigger'); END"
        )
    before = row_counts(engine)
    tokens = tmp_path / "tokens.json"
    result = CliRunner().invoke(
        gridlink_app,
        ["hub", "import", str(TEMPLATES), "--tokens-out", str(tokens), "--database-url",
         settings_url],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == "error: database error: worker refused by trigger"
    assert row_counts(engine) == before
    assert not tokens.exists()


def test_a_row_written_meanwhile_is_one_line_and_nothing_is_kept(
    tmp_path: Path, engine: Engine, settings_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API writes area 330106 after the import validated its files (none had it) and
    before it loads them: the insert collides, the import says so in one line."""
    real = flows.prepare

    def then_the_api_writes(**kwargs: Any) -> flows.Prepared:
        prepared = real(**kwargs)
        with Session(engine) as api:
            api.add(Area(code="330106", name="西湖区", level="district", parent_code=None))
            api.commit()
        return prepared

    monkeypatch.setattr(flows, "prepare", then_the_api_writes)
    before = row_counts(engine)
    tokens = tmp_path / "t.json"
    result = CliRunner().invoke(
        gridlink_app,
        ["hub", "import", str(TEMPLATES), "--tokens-out", str(tokens), "--database-url",
         settings_url],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1] == (
        "error: the database changed during the import; run it again (nothing was written)"
    )
    assert "Traceback" not in result.output
    assert row_counts(engine) == {**before, "areas": before["areas"] + 1}  # only the API's row
    assert not tokens.exists()
