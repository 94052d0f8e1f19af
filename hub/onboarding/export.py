"""``gridlink hub export``: the database as the onboarding files, the same columns in the same
order, rows in a stable order, so export -> import into an empty hub -> export is identical.
Tokens' secrets are not in the database (only their hashes) and never in a file."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from sqlalchemy.orm import Session

from hub.onboarding.cells import degrees, quote
from hub.onboarding.snapshot import Existing, read_existing
from hub.onboarding.templates import CATCH_ALL, LIST_SEPARATOR, TEMPLATES


def _flag(value: bool) -> str:
    return "true" if value else "false"


class ExportError(Exception):
    """The database holds what the files cannot say; one line naming it."""


def _check_accounts(existing: Existing) -> None:
    """Two live tokens with one name (the API allows it) would be one account in the file,
    which the import refuses: say which, before anything is written."""
    twice = sorted(name for name, rows in existing.accounts.items() if len(rows) > 1)
    if twice:
        shown = "; ".join(
            f"{name!r} (tokens {', '.join(str(t.id) for t in existing.accounts[name])})"
            for name in twice[:5]
        )
        more = f" and {len(twice) - 5} more" if len(twice) > 5 else ""
        raise ExportError(
            f"accounts.csv: live tokens share a name: {shown}{more}; the name is an account's "
            "key, so revoke or recreate all but one of each (DELETE /api/tokens/{id}) and "
            "export again"
        )


def tables(existing: Existing) -> dict[str, list[list[str]]]:
    """kind -> rows (without the header), every template column, in a stable order; text
    cells ``quote``d. ExportError when two live tokens share a name."""
    _check_accounts(existing)
    units = existing.units_by_id
    return {
        "areas": [
            [a.code, quote(a.name), a.level, a.parent_code or ""]
            for a in sorted(existing.areas.values(), key=lambda a: a.code)
        ],
        "categories": [
            [quote(c.code), quote(c.name), str(c.deadline_hours), _flag(c.active)]
            for c in sorted(existing.categories.values(), key=lambda c: c.code)
        ],
        "grids": [
            [g.code, quote(g.name), g.community_code, degrees(g.lat_e6), degrees(g.lon_e6)]
            for g in sorted(existing.grids.values(), key=lambda g: g.code)
        ],
        "units": [
            [
                u.area_code,
                quote(u.name),
                u.kind,
                LIST_SEPARATOR.join(sorted(CATCH_ALL if c is None else c for c in u.categories)),
            ]
            for u in sorted(units.values(), key=lambda u: (u.area_code, u.name, u.id))
        ],  # fmt: skip
        "workers": [
            [
                w.id,
                quote(w.name),
                quote(w.phone or ""),
                w.role,
                _flag(w.active),
                LIST_SEPARATOR.join(sorted(w.grid_codes)),
            ]
            for w in sorted(existing.workers.values(), key=lambda w: w.id)
        ],  # fmt: skip
        "accounts": [
            [
                quote(t.name),
                t.role,
                t.scope_code or "",
                units[t.unit_id].area_code if t.unit_id in units else "",
                quote(units[t.unit_id].name) if t.unit_id in units else "",
            ]
            for rows in sorted(existing.accounts.values(), key=lambda rows: rows[0].name)
            for t in rows
        ],  # fmt: skip
    }


def render(kind: str, rows: list[list[str]], *, bom: bool = False) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TEMPLATES[kind].names)
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode("utf-8")


def export(*, db_session: Session, directory: Path, bom: bool = False) -> dict[str, int]:
    """Write the six files into ``directory`` (created if missing); an existing file there is
    ``FileExistsError`` before anything is written. Returns kind -> rows written."""
    data = tables(read_existing(db_session=db_session))
    directory.mkdir(parents=True, exist_ok=True)
    for template in TEMPLATES.values():
        if (directory / template.filename).exists():
            raise FileExistsError(
                f"{directory / template.filename} exists: export into an empty directory"
            )
    for kind, rows in data.items():
        path = directory / TEMPLATES[kind].filename
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(render(kind, rows, bom=bom))
        os.replace(tmp, path)
    return {kind: len(rows) for kind, rows in data.items()}
