"""A generated district as onboarding files: 1 district, 10 streets, 100 communities, 1,000
grids, 5,000 workers (5 a grid, every tenth also serving the next grid), 5 categories, a
territorial unit per area and a functional one per street, an operator account per street.
Chinese names throughout. Used by the tests and by bench/hub_import.py."""

from __future__ import annotations

import csv
from pathlib import Path

DISTRICT = "330110"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
CATEGORIES = [
    ("garbage", "垃圾乱堆乱放", 8),
    ("illegal_parking", "违章停车", 4),
    ("road_damage", "道路破损", 16),
    ("street_light", "路灯损坏", 24),
    ("other", "其他问题", 40),
]


def district_rows(
    streets: int = 10, communities: int = 10, grids: int = 10, workers: int = 5
) -> dict[str, list[list[str]]]:
    """kind -> rows (without the header); grids and workers scale with the arguments."""
    areas = [[DISTRICT, "余杭区", "district", ""]]
    grid_rows: list[list[str]] = []
    units = [[DISTRICT, "余杭区城市管理指挥中心", "territorial", "*"]]
    worker_rows: list[list[str]] = []
    accounts = [["余杭区管理员", "admin", DISTRICT, "", ""]]
    for s in range(1, streets + 1):
        street = f"{DISTRICT}{s:03d}"
        areas.append([street, f"第{s}街道", "street", DISTRICT])
        units.append([street, f"第{s}街道综合执法中队", "territorial", "*"])
        units.append([street, f"第{s}街道市政所", "functional", "road_damage;street_light"])
        accounts.append([f"第{s}街道值班员", "operator", street, "", ""])
        for c in range(1, communities + 1):
            community = f"{street}{c:03d}"
            areas.append([community, f"第{s}街道第{c}社区", "community", street])
            units.append([community, f"第{s}街道第{c}社区居委会", "territorial", "*"])
            for g in range(1, grids + 1):
                code = f"{community}{g:02d}"
                lat = 30_400_000 + s * 10_000 + c * 500 + g * 10
                grid_rows.append(
                    [code, f"第{s}街道第{c}社区第{g}网格", community,
                     f"{lat // 1_000_000}.{lat % 1_000_000:06d}", "120.301000"]
                )  # fmt: skip
                for k in range(workers):
                    n = len(worker_rows)
                    name = SURNAMES[n % len(SURNAMES)] + GIVEN[n // len(SURNAMES) % len(GIVEN)]
                    served = code if n % 10 or g == grids else f"{code};{community}{g + 1:02d}"
                    role = "assistant" if k == workers - 1 else "worker"
                    worker_rows.append(
                        [f"w{code[6:]}{k}", name, f"138{n:08d}", role, "true", served]
                    )
    return {
        "areas": areas,
        "categories": [[c, name, str(h), "true"] for c, name, h in CATEGORIES],
        "grids": grid_rows,
        "units": units,
        "workers": worker_rows,
        "accounts": accounts,
    }


HEADERS = {
    "areas": ["code", "name", "level", "parent_code"],
    "categories": ["code", "name", "deadline_hours", "active"],
    "grids": ["code", "name", "community_code", "lat", "lon"],
    "units": ["area_code", "name", "kind", "categories"],
    "workers": ["id", "name", "phone", "role", "active", "grid_codes"],
    "accounts": ["name", "role", "scope_code", "unit_area_code", "unit_name"],
}


def write_district(directory: Path, **sizes: int) -> dict[str, int]:
    """Write the files into ``directory``; returns kind -> rows."""
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for kind, rows in district_rows(**sizes).items():
        with (directory / f"{kind}.csv").open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(HEADERS[kind])
            writer.writerows(rows)
        counts[kind] = len(rows)
    return counts
