"""``grids.geojson`` beside the CSV files: first boundaries in force at once, a changed one
filed for approval, a re-run unchanged, and every problem listed with nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas.models import Grid, GridBoundary
from tests.hub.onboarding.conftest import TEMPLATES, Hub

G1, G2, G3 = "33010600100101", "33010600100102", "33010600100201"


def shapes_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("grids.geojson: "))


def boundary_rows(db_session: Session) -> list[tuple[str, int, str]]:
    db_session.expire_all()
    rows = db_session.scalars(
        select(GridBoundary).order_by(GridBoundary.grid_code, GridBoundary.version)
    )
    return [(b.grid_code, b.version, b.status) for b in rows]


def copy_templates(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    files = tmp_path / "files"
    shutil.copytree(TEMPLATES, files)
    return files, json.loads((files / "grids.geojson").read_text("utf-8"))


def test_first_boundaries_are_in_force_and_a_change_waits_for_approval(
    hub: Hub, tmp_path: Path, db_session: Session
) -> None:
    files, doc = copy_templates(tmp_path)
    first = hub("import", files, "--tokens-out", tmp_path / "t.json")
    assert first.exit_code == 0, first.output
    assert shapes_line(first.output) == (
        "grids.geojson: 3 created, 0 proposed (awaiting approval), 0 unchanged"
    )
    assert boundary_rows(db_session) == [(G1, 1, "approved"), (G2, 1, "approved"),
                                         (G3, 1, "approved")]  # fmt: skip
    grid = db_session.get(Grid, G1)
    assert grid is not None and grid.boundary_version == 1
    again = hub("import", files)
    assert again.exit_code == 0, again.output
    assert shapes_line(again.output).endswith(
        "0 created, 0 proposed (awaiting approval), 3 unchanged"
    )

    ring = doc["features"][0]["geometry"]["coordinates"][0]
    for pos in ring:  # grid 1 grows west by about 40 m
        if pos[0] == 120.1385:
            pos[0] = 120.1381
    (files / "grids.geojson").write_text(json.dumps(doc), "utf-8")
    changed = hub("import", files)
    assert changed.exit_code == 0, changed.output
    assert "1 proposed (awaiting approval)" in shapes_line(changed.output)
    assert boundary_rows(db_session)[:2] == [(G1, 1, "approved"), (G1, 2, "proposed")]
    # --check writes nothing, boundaries included
    (files / "grids.geojson").write_text(json.dumps({**doc, "features": doc["features"][1:2]}))
    assert hub("import", files, "--check").exit_code == 0


def test_every_problem_is_listed_and_nothing_is_written(
    hub: Hub, tmp_path: Path, db_session: Session
) -> None:
    files, doc = copy_templates(tmp_path)
    feats = doc["features"]
    feats[0]["geometry"]["coordinates"][0][1] = [120.1403, 30.2800]  # crosses itself
    feats[1]["properties"]["code"] = "330106"
    feats.append({"type": "Feature", "properties": {"code": G3}, "geometry": feats[2]["geometry"]})
    feats.append({"type": "Feature", "properties": {"code": "33010600100199"},
                  "geometry": feats[2]["geometry"]})  # fmt: skip
    (files / "grids.geojson").write_text(json.dumps(doc), "utf-8")
    result = hub("import", files, "--tokens-out", tmp_path / "t.json")
    assert result.exit_code == 1
    out = result.output
    assert (
        "grids.geojson: feature 1 (grid 33010600100101): the boundary is not a valid polygon" in out
    )
    assert "grids.geojson: feature 2: properties.code must be a 14-digit grid code" in out
    assert "feature 4 (grid 33010600100201): the grid's boundary is also feature 3" in out
    assert "nothing was written" in out and "Traceback" not in out
    assert boundary_rows(db_session) == [] and db_session.get(Grid, G1) is None

    # An unknown grid and an overlap are found against the loaded rows: all rolled back.
    files, doc = copy_templates(tmp_path / "b")
    doc["features"].append({"type": "Feature", "properties": {"code": "33010600100199"},
                            "geometry": doc["features"][2]["geometry"]})  # fmt: skip
    doc["features"][1]["geometry"]["coordinates"][0] = [
        [120.1395, 30.2725], [120.1421, 30.2725], [120.1421, 30.2743], [120.1395, 30.2743],
        [120.1395, 30.2725]]  # fmt: skip
    (files / "grids.geojson").write_text(json.dumps(doc), "utf-8")
    result = hub("import", files, "--tokens-out", tmp_path / "t2.json")
    assert result.exit_code == 1, result.output
    assert (
        "feature 2 (grid 33010600100102): the boundary of grid 33010600100102 overlaps grid "
        "33010600100101" in result.output
    )
    assert "feature 4 (grid 33010600100199): no such grid" in result.output
    assert boundary_rows(db_session) == [] and db_session.get(Grid, G1) is None
    assert not (tmp_path / "t2.json").exists()
