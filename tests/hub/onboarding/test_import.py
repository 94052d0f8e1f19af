"""``gridlink hub import`` of the example templates: what the API and the workflow then see,
a re-run that changes nothing, updates by natural key, the accounts' tokens."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hub.app import create_app
from hub.areas.models import Unit
from hub.auth.models import ApiToken
from hub.cases.routing import route
from hub.clock import FrozenClock
from hub.settings import Settings
from tests.hub.onboarding.conftest import TEMPLATES, Hub, row_counts


def summary(output: str) -> dict[str, str]:
    lines = [line for line in output.splitlines() if ".csv: " in line]
    return dict(line.split(": ", 1) for line in lines)


def test_templates_load_as_the_api_and_routing_use_them(
    hub: Hub, tmp_path: Path, settings: Settings, clock: FrozenClock, db_session: Session
) -> None:
    tokens = tmp_path / "tokens.json"
    result = hub("import", TEMPLATES, "--tokens-out", tokens)
    assert result.exit_code == 0, result.output
    assert summary(result.output) == {
        "areas.csv": "6 created, 0 updated, 0 unchanged",
        "categories.csv": "5 created, 0 updated, 0 unchanged",
        "grids.csv": "4 created, 0 updated, 0 unchanged",
        "units.csv": "6 created, 0 updated, 0 unchanged",
        "workers.csv": "5 created, 0 updated, 0 unchanged",
        "accounts.csv": "4 created, 0 updated, 0 unchanged",
    }
    assert "validating" in result.output and "loading" in result.output  # the progress bars
    secrets = json.loads(tokens.read_text(encoding="utf-8"))
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    assert set(secrets) == {
        "西湖区管理员",
        "西湖区指挥中心值班员",
        "北山街道值班员",
        "曙光新村物业",
    }
    assert not any(secret in result.output for secret in secrets.values())

    app = create_app(settings=settings, clock=clock)
    with TestClient(app) as client:
        operator = {"Authorization": f"Bearer {secrets['北山街道值班员']}"}
        grids = client.get("/api/grids", headers=operator).json()
        assert [g["code"] for g in grids] == [
            "33010600100101",
            "33010600100102",
            "33010600100201",
        ]  # only the grids of its street
        assert grids[0]["name"] == "曙光新村第一网格" and grids[0]["lat_e6"] == 30_272_100
        worker = client.get("/api/workers/a330106001001", headers=operator).json()
        assert worker["role"] == "assistant" and worker["name"] == "陈静"
        assert worker["grid_codes"] == ["33010600100101", "33010600100102"]
        unit_token = {"Authorization": f"Bearer {secrets['曙光新村物业']}"}
        assert client.get("/api/cases", headers=unit_token).status_code == 200
    app.state.engine.dispose()
    # the workflow's routing finds the imported units by category and level
    handled = route(
        db_session=db_session,
        category_code="garbage",
        grid_code="33010600100101",
        level="community",
    )
    assert handled is not None and handled.name == "曙光新村物业服务中心"
    fallback = route(
        db_session=db_session, category_code="other", grid_code="33010600100101", level="street"
    )
    assert fallback is not None and fallback.name == "北山街道城管中队"


def test_a_second_run_changes_nothing_and_never_rotates_a_token(
    hub: Hub, tmp_path: Path, engine: Engine, db_session: Session
) -> None:
    tokens = tmp_path / "tokens.json"
    assert hub("import", TEMPLATES, "--tokens-out", tokens).exit_code == 0
    written = tokens.read_bytes()
    hashes = db_session.scalars(select(ApiToken.token_hash).order_by(ApiToken.id)).all()
    before = row_counts(engine)
    again = hub("import", TEMPLATES, "--tokens-out", tokens)
    assert again.exit_code == 0, again.output
    assert all(v.startswith("0 created, 0 updated, ") for v in summary(again.output).values())
    assert summary(again.output)["workers.csv"] == "0 created, 0 updated, 5 unchanged"
    assert "no new accounts" in again.output
    assert tokens.read_bytes() == written
    assert row_counts(engine) == before
    db_session.expire_all()
    assert db_session.scalars(select(ApiToken.token_hash).order_by(ApiToken.id)).all() == hashes


def test_changed_rows_are_updates_by_natural_key(
    hub: Hub, tmp_path: Path, engine: Engine, db_session: Session
) -> None:
    files = tmp_path / "files"
    shutil.copytree(TEMPLATES, files)
    assert hub("import", files, "--tokens-out", tmp_path / "t.json").exit_code == 0
    before = row_counts(engine)
    grids = files / "grids.csv"
    grids.write_text(grids.read_text("utf-8").replace("文二第一网格", "文二社区一号网格"), "utf-8")
    units = files / "units.csv"
    units.write_text(
        units.read_text("utf-8").replace("garbage;illegal_parking", "garbage"), "utf-8"
    )
    workers = files / "workers.csv"
    workers.write_text(
        workers.read_text("utf-8").replace("33010600100101;33010600100102", "33010600100102"),
        "utf-8",
    )
    result = hub("import", files, "--file", f"grids={grids}")
    assert result.exit_code == 0, result.output
    counts = summary(result.output)
    assert counts["grids.csv"] == "0 created, 1 updated, 3 unchanged"
    assert counts["units.csv"] == "0 created, 1 updated, 5 unchanged"
    assert counts["workers.csv"] == "0 created, 1 updated, 4 unchanged"
    after = row_counts(engine)
    assert after["unit_responsibilities"] == before["unit_responsibilities"] - 1
    assert after["worker_grids"] == before["worker_grids"] - 1
    links = ("unit_responsibilities", "worker_grids")
    assert {k: v for k, v in after.items() if k not in links} == {
        k: v for k, v in before.items() if k not in links
    }
    unit = db_session.scalars(select(Unit).where(Unit.name == "曙光新村物业服务中心")).one()
    assert [r.category_code for r in unit.responsibilities] == ["garbage"]


def test_rows_absent_from_the_files_are_kept(hub: Hub, tmp_path: Path, engine: Engine) -> None:
    assert hub("import", TEMPLATES, "--tokens-out", tmp_path / "t.json").exit_code == 0
    before = row_counts(engine)
    only = tmp_path / "grids.csv"
    only.write_text("code,name,community_code\n33010600100103,新网格,330106001001\n", "utf-8")
    result = hub("import", "--file", f"grids={only}")
    assert result.exit_code == 0, result.output
    assert summary(result.output) == {"grids.csv": "1 created, 0 updated, 0 unchanged"}
    assert row_counts(engine) == {**before, "grids": before["grids"] + 1}


def test_check_validates_and_counts_but_writes_nothing(
    hub: Hub, tmp_path: Path, engine: Engine
) -> None:
    before = row_counts(engine)
    result = hub("import", TEMPLATES, "--check")
    assert result.exit_code == 0, result.output
    assert "grids.csv: 4 created, 0 updated, 0 unchanged would be" in result.output
    assert row_counts(engine) == before


def test_new_accounts_need_a_tokens_file_that_is_never_overwritten(
    hub: Hub, tmp_path: Path, engine: Engine
) -> None:
    before = row_counts(engine)
    missing = hub("import", TEMPLATES)
    assert missing.exit_code == 1
    assert "creates 4 account(s)" in str(missing.exception) and "--tokens-out" in str(
        missing.exception
    )
    tokens = tmp_path / "tokens.json"
    tokens.write_text("keep me\n")
    refused = hub("import", TEMPLATES, "--tokens-out", tokens)
    assert refused.exit_code == 1 and "never overwritten" in str(refused.exception)
    assert tokens.read_text() == "keep me\n"
    assert row_counts(engine) == before
