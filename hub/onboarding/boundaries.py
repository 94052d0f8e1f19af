"""``grids.geojson``: the grids' boundaries beside the CSV files, one Feature per grid
(``properties.code`` the 14-digit grid code, a Polygon or MultiPolygon geometry).

Read and checked before anything is written (every problem listed with its feature number);
applied after the CSV rows, in the same transaction: a grid's first boundary is in force at
once, a changed one is filed for approval (``hub.areas.boundaries.imported``). Export writes the
boundaries in force.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas import boundaries
from hub.areas.models import BoundaryStatus, Grid, GridBoundary
from hub.errors import HubError

FILENAME = "grids.geojson"
MAX_BYTES = 64 * 1024 * 1024  # a city of 15,000 grids at a few hundred vertices each: ~30 MB


@dataclass(frozen=True)
class Item:
    number: int  # 1-based, as the problems name it
    code: str
    geom: Polygon | MultiPolygon


@dataclass
class Counts:
    created: int = 0
    proposed: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return (
            f"{self.created} created, {self.proposed} proposed (awaiting approval), "
            f"{self.unchanged} unchanged"
        )


@dataclass
class Read:
    items: list[Item] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read(path: Path) -> Read:
    """The features of ``path``, or the problems found in it (``OSError`` if unreadable)."""
    out = Read()
    name = path.name
    if path.stat().st_size > MAX_BYTES:
        out.problems.append(f"{name}: larger than {MAX_BYTES // (1024 * 1024)} MiB")
        return out
    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeError, ValueError) as exc:
        out.problems.append(f"{name}: not GeoJSON: {exc}")
        return out
    except RecursionError:
        out.problems.append(f"{name}: not GeoJSON: nested too deeply")
        return out
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        out.problems.append(f"{name}: a FeatureCollection of the grids' boundaries is expected")
        return out
    features = doc.get("features")
    if not isinstance(features, list):
        out.problems.append(f"{name}: 'features' must be a list")
        return out
    seen: dict[str, int] = {}
    for number, feat in enumerate(features, start=1):
        where = f"{name}: feature {number}"
        props = feat.get("properties") if isinstance(feat, dict) else None
        code = props.get("code") if isinstance(props, dict) else None
        if not isinstance(code, str) or len(code) != 14 or not code.isascii() or not code.isdigit():
            out.problems.append(f"{where}: properties.code must be a 14-digit grid code")
            continue
        where = f"{where} (grid {code})"
        if code in seen:
            out.problems.append(f"{where}: the grid's boundary is also feature {seen[code]}")
            continue
        seen[code] = number
        try:
            geom = boundaries.parse_geometry(feat.get("geometry"))
        except HubError as exc:
            out.problems.append(f"{where}: {exc.message}")
            continue
        out.items.append(Item(number, code, geom))
    return out


def apply(
    *, db_session: Session, items: list[Item], actor: str, at: datetime
) -> tuple[Counts, list[str]]:
    """Apply the features after the CSV rows (same transaction); the problems found (an unknown
    grid, an overlap): the caller rolls back when there are any."""
    counts = Counts()
    problems: list[str] = []
    grids = {g.code: g for g in db_session.scalars(select(Grid).where(
        Grid.code.in_([i.code for i in items])))} if items else {}  # fmt: skip
    for item in items:
        where = f"{FILENAME}: feature {item.number} (grid {item.code})"
        grid = grids.get(item.code)
        if grid is None:
            problems.append(f"{where}: no such grid (in grids.csv or the database)")
            continue
        try:
            outcome = boundaries.imported(
                db_session=db_session, grid=grid, geom=item.geom, actor=actor, at=at
            )
        except HubError as exc:
            problems.append(f"{where}: {exc.message}")
            continue
        setattr(counts, outcome, getattr(counts, outcome) + 1)
    return counts, problems


def export(*, db_session: Session, directory: Path) -> int:
    """Write the boundaries in force to ``directory/grids.geojson``; returns how many (no file
    when there are none)."""
    rows = db_session.execute(
        select(GridBoundary, Grid.name)
        .join(Grid, Grid.code == GridBoundary.grid_code)
        .where(GridBoundary.status == BoundaryStatus.approved.value)
        .order_by(GridBoundary.grid_code)
    ).all()
    if not rows:
        return 0
    doc: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": b.grid_code, "name": name},
             "geometry": b.geometry}
            for b, name in rows
        ],
    }  # fmt: skip
    path = directory / FILENAME
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return len(rows)
