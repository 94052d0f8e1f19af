"""``gridlink provision ota``: firmware bundles and staged rollouts, over the hub's REST API.

    gridlink provision ota upload fw-0.2.0.glb
    gridlink provision ota rollout fw-0.2.0.glb --area 330102 --stages 10,100 --auto
    gridlink provision ota status r-1 --watch
    gridlink provision ota list | bundles | advance r-1 [--force] | pause | resume | cancel

The hub and token are the ``provision`` options (``--hub`` / ``GRIDLINK_HUB_URL``, ``--token``
/ ``GRIDLINK_ADMIN_TOKEN``). Every mistake is one line and exit 1; the hub's 409 / 422 answers
are shown as the hub words them. docs/ota.md, "Operating a rollout".
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Column, Table

from protocol import bundle as pb
from provisioning import device_config as dc
from provisioning.bundle import read_bundle
from provisioning.errors import ProvisionError
from provisioning.hubapi import HubApiError, HubClient

console = Console(soft_wrap=True)
app = typer.Typer(
    help="Over-the-air firmware: upload signed bundles, roll them out in stages, watch them.",
    no_args_is_help=True,
)
DEVICE_STATES = ("pending", "queued", *pb.STATES)  # as the hub lists them
TERMINAL = ("updated", "failed", "rolled_back")
ENDED = ("completed", "paused", "cancelled")
MIN_DEVICE_TIMEOUT, MAX_DEVICE_TIMEOUT = 60, 7 * 24 * 3600  # what the hub accepts
_NAME = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class OtaCliError(ProvisionError):
    pass


def _hub(ctx: typer.Context) -> HubClient:
    return HubClient(ctx.obj["hub"], ctx.obj["token"])


def _rollout_id(value: str) -> str:
    if not 1 <= len(value) <= 64 or not set(value) <= _NAME:
        raise OtaCliError(f"rollout {value!r}: want a rollout id such as r-1")
    return value


def parse_stages(text: str) -> list[int]:
    """``10,50,100`` -> [10, 50, 100]: strictly ascending percents in 1..100 ending at 100."""
    try:
        stages = [int(p) for p in text.split(",")]
    except ValueError:
        raise OtaCliError(f"--stages {text!r}: want percents such as 10,100") from None
    if any(not 1 <= s <= 100 for s in stages):
        raise OtaCliError(f"--stages {text!r}: each stage is a percent in 1..100")
    if any(a >= b for a, b in zip(stages, stages[1:], strict=False)):
        raise OtaCliError(f"--stages {text!r}: stages must go strictly up")
    if stages[-1] != 100:
        raise OtaCliError(f"--stages {text!r}: the last stage must be 100")
    return stages


def _percent(value: int, option: str, low: int = 0) -> int:
    if not low <= value <= 100:
        raise OtaCliError(f"{option} {value}: want a percent in {low}..100")
    return value


def _target(devices: str | None, area: str | None, everyone: bool) -> dict[str, Any]:
    given = [x for x in (devices is not None, area is not None, everyone) if x]
    if len(given) != 1:
        raise OtaCliError("say which devices: exactly one of --devices a,b / --area CODE / --all")
    if devices is not None:
        ids = [d.strip() for d in devices.split(",") if d.strip()]
        if not ids:
            raise OtaCliError("--devices: want device ids separated by commas")
        return {"devices": [dc.check_id(d) for d in ids]}
    if area is not None:
        if not area.isdigit() or not area.isascii() or len(area) not in (6, 9, 12):
            raise OtaCliError(f"--area {area!r}: want an area code of 6, 9 or 12 digits")
        return {"area": area}
    return {"all": True}


def _bundle_id(hub: HubClient, ref: str) -> str:
    """A bundle id as given, or the id of a .glb file, uploaded first (the hub keeps one copy
    of a bundle: uploading it again changes nothing)."""
    if len(ref) == 64 and set(ref) <= set("0123456789abcdef") and not Path(ref).exists():
        return ref
    path = Path(ref)
    if not path.exists():
        raise OtaCliError(f"bundle {ref!r}: neither a bundle id (64 hex) nor a .glb file")
    manifest, _files = read_bundle(path)
    out, new = hub.upload_bundle(path.read_bytes())
    console.print(_uploaded(out, new))
    if out["id"] != pb.digest(manifest):
        raise OtaCliError(f"the hub stored {path} as {out['id']}, not {pb.digest(manifest)}")
    return str(out["id"])


def _uploaded(b: dict[str, Any], new: bool) -> str:
    what = "uploaded" if new else "already at the hub"
    return (
        f"bundle {b['id']}: {b['name']} {b['version']} for {','.join(b['kinds'])} on "
        f"{','.join(b['hw'])}, {b['files']} files, {b['size']} bytes ({what})"
    )


# --- rendering -----------------------------------------------------------------------------


def _stage_line(r: dict[str, Any]) -> str:
    stages = r["stages"]
    k = r["stage"]
    line = (
        f"rollout {r['id']}: {r['version']} (bundle {r['bundle'][:12]}...), {r['state']}, "
        f"stage {k + 1}/{len(stages)} ({stages[k]}%), "
        f"auto-advance {'on' if r['auto_advance'] else 'off'}"
    )
    if r.get("paused_reason"):
        line += f", paused: {r['paused_reason']}"
    return line


def render(r: dict[str, Any], devices: bool = False) -> Group:
    """The rollout as the operator reads it: its stage, a table of devices per state, and a
    bar of terminal (updated / failed / rolled back) out of all targeted devices."""
    counts = r["counts"]
    table = Table("state", "devices", title=None, show_edge=False)
    for state in DEVICE_STATES:
        table.add_row(state, str(counts.get(state, 0)))
    total = int(r["total"])
    done = sum(int(counts.get(s, 0)) for s in TERMINAL)
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=max(total, 1), completed=done, width=40),
        f"{done}/{total} done ({counts.get('updated', 0)} updated, "
        f"{counts.get('failed', 0)} failed, {counts.get('rolled_back', 0)} rolled back)",
    )
    parts: list[Any] = [_stage_line(r), table, bar]
    if r.get("excluded"):
        parts.append(
            "excluded: "
            + ", ".join(f"{e['device_id']} ({e['reason']})" for e in r["excluded"][:20])
            + (f" and {len(r['excluded']) - 20} more" if len(r["excluded"]) > 20 else "")
        )
    if devices:
        rows = Table(
            Column("device", no_wrap=True), "stage", Column("state", no_wrap=True), "reason",
            "bytes", "updated at",
        )  # fmt: skip
        for d in r["devices"]:
            rows.add_row(
                d["device_id"],
                str(d["stage"] + 1),
                d["state"],
                d.get("reason") or "-",
                f"{d.get('done', 0)}/{d.get('total', 0)}",
                (d.get("updated_at") or "-")[:19],
            )
        parts.append(rows)
    return Group(*parts)


# --- commands ------------------------------------------------------------------------------


@app.command("upload")
def upload(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A bundle made by `gridlink provision bundle`."),
) -> None:
    """Upload a bundle to the hub (checked here first: layout, manifest, every file's hash;
    the hub checks the ops key's signature)."""
    read_bundle(path)
    with _hub(ctx) as hub:
        out, new = hub.upload_bundle(path.read_bytes())
    console.print(_uploaded(out, new))


@app.command("bundles")
def bundles(ctx: typer.Context) -> None:
    """The bundles the hub holds."""
    with _hub(ctx) as hub:
        rows = hub.bundles()
    table = Table(
        Column("id", no_wrap=True), "name", "version", "kinds", "hw", "files", "bytes", "uploaded"
    )
    for b in rows:
        table.add_row(
            b["id"][:16] + "...",
            b["name"],
            b["version"],
            ",".join(b["kinds"]),
            ",".join(b["hw"]),
            str(b["files"]),
            str(b["size"]),
            str(b.get("uploaded_at") or "-")[:19],
        )
    console.print(table)
    console.print(f"{len(rows)} bundle(s)")


@app.command("rollout")
def rollout(
    ctx: typer.Context,
    bundle: str = typer.Argument(..., help="A bundle id, or a .glb file (uploaded first)."),
    devices: str = typer.Option(None, "--devices", help="Device ids, comma-separated."),
    area: str = typer.Option(None, "--area", help="Every device in this area (its code)."),
    everyone: bool = typer.Option(False, "--all", help="Every active device of the kinds."),
    stages: str = typer.Option("10,100", "--stages", help="Percents, ascending, ending at 100."),
    auto: bool = typer.Option(
        False, "--auto", help="Advance by itself when a stage succeeded (else `ota advance`)."
    ),
    advance_success: int = typer.Option(
        90, "--advance-success-percent", help="--auto: updated share a stage needs to advance."
    ),
    pause_failure: int = typer.Option(
        20, "--pause-failure-percent", help="Pause when failed / done reaches this percent."
    ),
    pause_min_done: int = typer.Option(
        1, "--pause-min-done", help="...once at least this many devices are done."
    ),
    device_timeout: int = typer.Option(
        900, "--device-timeout", help="Seconds a device has to finish before it counts failed."
    ),
) -> None:
    """Start a staged rollout of a bundle to devices, an area or the whole fleet."""
    body: dict[str, Any] = {
        "target": _target(devices, area, everyone),
        "stages": parse_stages(stages),
        "auto_advance": auto,
        "advance_success_percent": _percent(advance_success, "--advance-success-percent"),
        "pause_failure_percent": _percent(pause_failure, "--pause-failure-percent", 1),
        "pause_min_done": pause_min_done,
        "device_timeout_s": device_timeout,
    }
    if pause_min_done < 1:
        raise OtaCliError(f"--pause-min-done {pause_min_done}: want 1 or more")
    if not MIN_DEVICE_TIMEOUT <= device_timeout <= MAX_DEVICE_TIMEOUT:
        raise OtaCliError(
            f"--device-timeout {device_timeout}: want seconds in "
            f"{MIN_DEVICE_TIMEOUT}..{MAX_DEVICE_TIMEOUT} (a week)"
        )
    with _hub(ctx) as hub:
        body["bundle"] = _bundle_id(hub, bundle)
        r = hub.create_rollout(body)
    console.print(render(r))
    console.print(f"watch it: gridlink provision ota status {r['id']} --watch")


@app.command("status")
def status(
    ctx: typer.Context,
    rollout_id: str = typer.Argument(..., metavar="ROLLOUT"),
    watch: bool = typer.Option(
        False, "--watch", help="Refresh until the rollout is completed, paused or cancelled."
    ),
    interval: float = typer.Option(2.0, "--interval", help="--watch: seconds between polls."),
    devices: bool = typer.Option(False, "--devices", help="Also list every device."),
) -> None:
    """A rollout's stage, its devices per state and its progress. With --watch, exit 1 when
    it ends paused or cancelled."""
    _rollout_id(rollout_id)
    with _hub(ctx) as hub:
        r = hub.rollout(rollout_id)
        if not watch:
            console.print(render(r, devices))
            return
        with Live(render(r, devices), console=console, auto_refresh=False) as live:
            while r["state"] not in ENDED:
                time.sleep(max(0.1, interval))
                r = hub.rollout(rollout_id)
                live.update(render(r, devices), refresh=True)
    if r["state"] != "completed":
        reason = f": {r['paused_reason']}" if r.get("paused_reason") else ""
        typer.echo(f"error: rollout {rollout_id} is {r['state']}{reason}", err=True)
        raise typer.Exit(1)


@app.command("list")
def list_rollouts(ctx: typer.Context) -> None:
    """The hub's rollouts."""
    with _hub(ctx) as hub:
        rows = hub.rollouts()
    table = Table(
        Column("id", no_wrap=True),
        "version",
        Column("state", no_wrap=True),
        "stage",
        "devices",
        "updated",
        "failed",
        "created",
    )
    for r in rows:
        c = r["counts"]
        table.add_row(
            r["id"],
            r["version"],
            r["state"] + (f" ({r['paused_reason']})" if r.get("paused_reason") else ""),
            f"{r['stage'] + 1}/{len(r['stages'])} ({r['stages'][r['stage']]}%)",
            str(r["total"]),
            str(c.get("updated", 0)),
            str(c.get("failed", 0) + c.get("rolled_back", 0)),
            str(r.get("created_at") or "-")[:19],
        )
    console.print(table)
    console.print(f"{len(rows)} rollout(s)")


def _unfinished(hub: HubClient, rollout_id: str) -> OtaCliError:
    """The hub's 409 ``stage_not_finished`` in the CLI's words: its stage numbers (from 1),
    the devices still going and ``--force``."""
    r = hub.rollout(rollout_id)
    k = r["stage"]
    going = [d["device_id"] for d in r["devices"] if d["stage"] <= k and d["state"] not in TERMINAL]
    who = (
        f"{going[0]} is still going"
        if len(going) == 1
        else f"{len(going)} devices are still going: {', '.join(going[:3])}"
        + (", ..." if len(going) > 3 else "")
    )
    return OtaCliError(
        f"stage {k + 1}/{len(r['stages'])} of rollout {rollout_id} is not finished ({who}): "
        "wait, or pass --force"
    )


def _action(ctx: typer.Context, rollout_id: str, action: str, force: bool = False) -> None:
    _rollout_id(rollout_id)
    with _hub(ctx) as hub:
        try:
            r = hub.rollout_action(rollout_id, action, force=force)
        except HubApiError as exc:
            if exc.code != "stage_not_finished":
                raise
            raise _unfinished(hub, rollout_id) from None
    console.print(_stage_line(r))


@app.command("advance")
def advance(
    ctx: typer.Context,
    rollout_id: str = typer.Argument(..., metavar="ROLLOUT"),
    force: bool = typer.Option(
        False, "--force", help="Advance even though devices of this stage are not done."
    ),
) -> None:
    """Move the rollout to its next stage (its devices get the command)."""
    _action(ctx, rollout_id, "advance", force)


@app.command("pause")
def pause(ctx: typer.Context, rollout_id: str = typer.Argument(..., metavar="ROLLOUT")) -> None:
    """Stop queueing commands (devices already told finish on their own)."""
    _action(ctx, rollout_id, "pause")


@app.command("resume")
def resume(ctx: typer.Context, rollout_id: str = typer.Argument(..., metavar="ROLLOUT")) -> None:
    """Resume a paused rollout."""
    _action(ctx, rollout_id, "resume")


@app.command("cancel")
def cancel(ctx: typer.Context, rollout_id: str = typer.Argument(..., metavar="ROLLOUT")) -> None:
    """End the rollout: devices not yet told are dropped; those mid-update still report."""
    _action(ctx, rollout_id, "cancel")
