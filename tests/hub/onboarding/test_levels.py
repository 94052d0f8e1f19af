"""areas.csv with the city and the rural levels: a city above a county, a township, a village
(a community-level area); each level checked against its code's length and its parent."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hub.areas.models import Area
from hub.cases.routing import route
from tests.hub.onboarding.conftest import Hub, row_counts
from tests.hub.onboarding.test_errors import problems

AREAS = """code,name,level,parent_code
3305,湖州市,city,
330521,德清县,county,3305
330521100,武康镇,township,330521
330521100201,五四村,community,330521100
330502,吴兴区,district,
"""
GRIDS = (
    "code,name,community_code,lat,lon\n33052110020101,五四村第一网格,330521100201,30.54,119.96\n"
)
UNITS = """area_code,name,kind,categories
3305,湖州市城市运行管理中心,territorial,*
330521,德清县综合指挥中心,territorial,*
330521100,武康镇综治中心,territorial,*
"""


def _files(root: Path, areas: str) -> Path:
    root.mkdir()
    (root / "areas.csv").write_text(areas, encoding="utf-8")
    (root / "grids.csv").write_text(GRIDS, encoding="utf-8")
    (root / "units.csv").write_text(UNITS, encoding="utf-8")
    return root


def test_a_city_county_township_and_village_import_and_route(
    hub: Hub, tmp_path: Path, db_session: Session
) -> None:
    result = hub("import", _files(tmp_path / "files", AREAS))
    assert result.exit_code == 0, result.output
    rows = db_session.execute(select(Area.code, Area.level, Area.parent_code).order_by(Area.code))
    assert [tuple(r) for r in rows] == [
        ("3305", "city", None),
        ("330502", "district", "3305"),  # no parent_code given: its city, which is in the file
        ("330521", "county", "3305"),
        ("330521100", "township", "330521"),
        ("330521100201", "community", "330521100"),
    ]
    names = {}
    for level in ("township", "county", "city"):
        unit = route(db_session=db_session, category_code=None, grid_code="33052110020101",
                     level=level)  # fmt: skip
        names[level] = unit.name if unit else None
    assert names == {"township": "武康镇综治中心", "county": "德清县综合指挥中心",
                     "city": "湖州市城市运行管理中心"}  # fmt: skip
    again = hub("import", tmp_path / "files")
    assert again.exit_code == 0 and "areas.csv: 0 created, 0 updated, 5 unchanged" in again.output


def test_a_city_added_later_adopts_the_districts_already_there(
    hub: Hub, tmp_path: Path, db_session: Session
) -> None:
    first = "code,name,level,parent_code\n330502,吴兴区,district,\n"
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "areas.csv").write_text(first, encoding="utf-8")
    assert hub("import", tmp_path / "one").exit_code == 0
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "areas.csv").write_text(
        "code,name,level,parent_code\n3305,湖州市,city,\n", encoding="utf-8"
    )
    assert hub("import", tmp_path / "two").exit_code == 0
    district = db_session.get(Area, "330502")
    assert district is not None and district.parent_code == "3305"


def test_levels_that_do_not_fit_their_codes_or_parents_are_refused(
    hub: Hub, tmp_path: Path, engine: Engine
) -> None:
    bad = AREAS + (
        "330521101,城关乡,county,330521\n"  # line 7: 9 digits is a street or township
        "3306,嘉兴市,city,33\n"  # 8: a city has no parent
        "330601,某区,district,3305\n"  # 9: not its city
        "330521102,新市镇,township,\n"  # 10: a township needs its county
        "33052,短码,county,3305\n"  # 11: no such length
    )
    before = row_counts(engine)
    result = hub("import", _files(tmp_path / "files", bad))
    assert result.exit_code == 1, result.output
    assert problems(result.output)[:5] == [
        "areas.csv:7: column level: 'county' does not fit code 330521101 (9 digits: street or "
        "township)",
        "areas.csv:8: column parent_code: '33': a city has no parent",
        "areas.csv:9: column parent_code: '3305' does not fit 330601: its parent is the city "
        "3306 (the code's first 4 digits)",
        "areas.csv:10: column parent_code: is empty: the parent of 330521102 is its district "
        "or county 330521",
        "areas.csv:11: column code: '33052' is not an area code (4, 6, 9 or 12 digits)",
    ]
    assert row_counts(engine) == before
