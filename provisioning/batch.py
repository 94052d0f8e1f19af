"""``gridlink provision batch devices.csv``: many devices, one progress bar, resumable.

The CSV has a header; columns (``id`` and ``kind`` required, the others may be empty or left
out):

    id,kind,grid,community,doors,port,key_on
    hh-33010200100101,handheld,33010200100101,,,/dev/ttyACM0,device
    gt-a-01,access,,330102001001,d1;d2:out,,host

``doors`` separates doors with ``;`` (each ``ID[:in|out[:secure|open]]``); a row with a
``port`` is flashed too, one without is only created (flash it later). A row that fails is
one line naming its row number and id, and the others go on. ``<csv>.state.json`` records what
each id reached (created / flashed / online); a re-run skips rows already at their goal and
resumes the others where they stopped (a pending device is flashed, not made again).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from provisioning import device_config as dc
from provisioning.errors import ProvisionError
from provisioning.hubapi import HubClient

COLUMNS = ("id", "kind", "grid", "community", "doors", "port", "key_on")


class BatchError(ProvisionError):
    pass


@dataclass
class Row:
    line: int  # the CSV row number (the header is row 1)
    id: str
    kind: str
    grid: str | None
    community: str | None
    doors: list[str]
    port: str | None
    key_on: str

    @property
    def goal(self) -> str:
        return "flashed" if self.port else "created"


@dataclass
class Report:
    state_path: Path
    done: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def read_rows(path: Path) -> tuple[list[Row], list[str]]:
    """The rows, and one error line per row that cannot be read (the others still count)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BatchError(f"{path}: {exc.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in COLUMNS]
    if "id" not in header or "kind" not in header or unknown:
        raise BatchError(
            f"{path}: the header must name id and kind (columns: {', '.join(COLUMNS)})"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    rows: list[Row] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(reader, start=2):
        if None in raw:
            errors.append(f"row {n}: more fields than the header's {len(header)}")
            continue
        v = {k.strip(): (val or "").strip() for k, val in raw.items() if k}
        if not any(v.values()):
            continue
        dev = v.get("id", "")
        try:
            dc.check_id(dev)
            if dev in seen:
                raise BatchError(f"id {dev} already on row {seen[dev]}")
            kind = v.get("kind", "")
            if kind not in dc.KINDS:
                raise BatchError(f"kind {kind!r}: one of {', '.join(dc.KINDS)}")
            key_on = v.get("key_on") or "device"
            if key_on not in dc.KEY_ON:
                raise BatchError(f"key_on {key_on!r}: device or host")
            doors = [d for d in v.get("doors", "").split(";") if d]
            for d in doors:
                dc.Door.parse(d)
        except ProvisionError as exc:
            errors.append(f"row {n} ({dev or 'no id'}): {exc}")
            continue
        seen[dev] = n
        rows.append(
            Row(
                n,
                dev,
                kind,
                v.get("grid") or None,
                v.get("community") or None,
                doors,
                v.get("port") or None,
                key_on,
            )
        )
    return rows, errors


def _load_state(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        raise BatchError(f"{path}: not valid JSON (delete it to start the batch over)") from None
    if not isinstance(data, dict):
        raise BatchError(f"{path}: want a JSON object (delete it to start the batch over)")
    return {str(k): str(v) for k, v in data.items()}


def _save_state(path: Path, state: dict[str, str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def run(
    hub: HubClient,
    csv_path: Path,
    out: Path,
    *,
    console: Console,
    broker_host: str,
    broker_port: int,
    hal: str = "board",
    extra: dict[str, Any] | None = None,
    wait_s: float = 120.0,
) -> Report:
    from provisioning.cli import flash_device, provision_new  # the steps `new` / `flash` run

    state_path = csv_path.with_name(csv_path.name + ".state.json")
    report = Report(state_path)
    rows, report.errors = read_rows(csv_path)
    state = _load_state(state_path)
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    )
    with progress:
        task = progress.add_task("devices", total=len(rows))
        for row in rows:
            progress.update(task, description=row.id)
            reached = state.get(row.id)
            if reached == row.goal or reached == "online":
                report.skipped += 1
                report.done += 1
                progress.advance(task)
                continue
            try:
                if reached is None:
                    provision_new(
                        hub,
                        out,
                        device_id=row.id,
                        kind=row.kind,
                        grid=row.grid,
                        community=row.community,
                        doors=row.doors,
                        key_on=row.key_on,
                        broker_host=broker_host,
                        broker_port=broker_port,
                        hal=hal,
                        extra=extra,
                    )
                    state[row.id] = reached = "created"
                    _save_state(state_path, state)
                if row.port:
                    rec = flash_device(hub, out, row.id, row.port, wait_s=wait_s, progress=False)
                    state[row.id] = rec.status if rec.status == "online" else "flashed"
                    _save_state(state_path, state)
                report.done += 1
            except ProvisionError as exc:
                report.errors.append(f"row {row.line} ({row.id}): {exc}")
            progress.advance(task)
    return report
