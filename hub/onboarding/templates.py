"""The onboarding files: one CSV per kind, their columns, and the order they load in.

Each file is UTF-8 (with or without a BOM) with a header row. A column is required or optional;
an optional column may be left out of the header (its default applies) or left empty in a row.
``docs/onboarding.md`` documents every column; ``export`` writes every column, in this order.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    required: bool


@dataclass(frozen=True)
class Template:
    kind: str
    columns: tuple[Column, ...]

    @property
    def filename(self) -> str:
        return f"{self.kind}.csv"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def _t(kind: str, *columns: str) -> Template:
    """``name`` required, ``name?`` optional."""
    return Template(kind, tuple(Column(c.rstrip("?"), not c.endswith("?")) for c in columns))


# Dependency order: a file only refers to the kinds before it.
TEMPLATES: dict[str, Template] = {
    t.kind: t
    for t in (
        _t("areas", "code", "name", "level", "parent_code?"),
        _t("categories", "code", "name", "deadline_hours", "active?"),
        _t("grids", "code", "name", "community_code", "lat?", "lon?"),
        _t("units", "area_code", "name", "kind?", "categories?"),
        _t("workers", "id", "name", "phone?", "role?", "active?", "grid_codes?"),
        _t("accounts", "name", "role", "scope_code?", "unit_area_code?", "unit_name?"),
    )
}
ORDER = tuple(TEMPLATES)
LIST_SEPARATOR = ";"  # inside one cell: units.categories, workers.grid_codes
CATCH_ALL = "*"  # in units.categories: the area's catch-all (category NULL)
