"""``gridlink provision``: make a blank board the device of a grid or a gate, and manage it.

    gridlink provision new --id hh-33010200100101 --kind handheld --grid 33010200100101
    gridlink provision flash --port /dev/ttyACM0 hh-33010200100101
    gridlink provision list | revoke ID | rotate ID | batch devices.csv

The hub is reached over its REST API with an admin token (``--hub`` / ``GRIDLINK_HUB_URL``,
``--token`` / ``GRIDLINK_ADMIN_TOKEN``); the board over its serial REPL with mpremote. Every
operator mistake is one line on stderr and exit 1 (docs/provisioning.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from typer.core import TyperGroup

from protocol import crypto
from provisioning import board as board_mod
from provisioning import device_config as dc
from provisioning import layout as layout_mod
from provisioning import opskey
from provisioning.cli_broker import app as broker_app
from provisioning.cli_bundle import bundle as bundle_command
from provisioning.cli_bundle import opskey_app
from provisioning.cli_ca import app as ca_app
from provisioning.cli_ota import app as ota_app
from provisioning.errors import ProvisionError
from provisioning.hubapi import HubApiError, HubClient

console = Console(soft_wrap=True)
FINAL = ("succeeded", "failed", "refused", "expired", "timed_out")


class ProvisionGroup(TyperGroup):
    """Turns a ProvisionError from any command into ``error: <line>`` and exit 1
    (``gridlink --debug`` keeps the traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ProvisionError as exc:
            if ctx.find_root().params.get("debug"):
                raise
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=ProvisionGroup,
    help="Provision devices: identity, hub registration, config, flashing with mpremote.",
    no_args_is_help=True,
)
app.add_typer(broker_app, name="broker")
app.add_typer(ca_app, name="ca")
app.add_typer(opskey_app, name="opskey")
app.add_typer(ota_app, name="ota")
app.command("bundle")(bundle_command)

OPS_PUB = typer.Option(
    None,
    "--ops-pub",
    envvar="GRIDLINK_OTA_OPS_KEY",
    help="The ops public key (64 hex, as the hub has it): the device takes bundles it signed.",
)
OUT = typer.Option(
    Path("devices"),
    "--out",
    envvar="GRIDLINK_PROVISION_DIR",
    help="Directory of the device records and configs (one sub-directory per device).",
)


@app.callback()
def main(
    ctx: typer.Context,
    hub: str = typer.Option(
        "http://127.0.0.1:8000", "--hub", envvar="GRIDLINK_HUB_URL", help="The hub's base URL."
    ),
    token: str = typer.Option(
        "",
        "--token",
        envvar="GRIDLINK_ADMIN_TOKEN",
        help="An admin API token.",
        show_default=False,
    ),
) -> None:
    """Provision devices: identity, hub registration, config, flashing with mpremote."""
    ctx.obj = {"hub": hub, "token": token}


def _hub(ctx: typer.Context) -> HubClient:
    return HubClient(ctx.obj["hub"], ctx.obj["token"])


# --- new ---------------------------------------------------------------------------------


def _gate_grid(hub: HubClient, community: str, grid: str | None) -> str:
    if grid is not None:
        if not grid.startswith(community):
            raise dc.ConfigError(f"grid {grid} is not in community {community}")
        return grid
    grids = sorted(g["code"] for g in hub.grids() if g["code"].startswith(community))
    if len(grids) != 1:
        found = f"{len(grids)} grids" if grids else "no grid"
        raise dc.ConfigError(f"community {community} has {found} at the hub: pass --grid")
    return grids[0]


def _check_free(hub: HubClient, out: Path, device_id: str, kind: str, grid: str) -> None:
    known = hub.device(device_id)
    if known is not None:
        raise dc.ConfigError(
            f"device {device_id} is already registered at the hub ({known['status']}): "
            "choose another id"
            + (
                f", or revoke it first with `gridlink provision revoke {device_id}`"
                if known["status"] == "active"
                else ""
            )
        )
    if (out / device_id / "device.json").exists():
        record = dc.DeviceRecord.load(out, device_id)
        if record.status != "pending":
            raise dc.ConfigError(f"device {device_id} is already provisioned under {out}")
    if kind == "handheld":
        for other in hub.devices(kind="handheld", status="active", grid_code=grid):
            raise dc.ConfigError(
                f"grid {grid} already has the active handheld {other['id']}: "
                f"revoke it first with `gridlink provision revoke {other['id']}`"
            )


def _copy_ca(src: Path, dst: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        data = src.read_bytes()
    except OSError as exc:
        raise dc.ConfigError(f"CA certificate {src}: {exc.strerror}") from None
    try:
        cert = (
            x509.load_pem_x509_certificate(data)
            if data.lstrip().startswith(b"-----")
            else x509.load_der_x509_certificate(data)
        )
    except ValueError:
        raise dc.ConfigError(f"CA certificate {src}: not a PEM or DER certificate") from None
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(cert.public_bytes(Encoding.DER))  # MicroPython's mbedTLS takes DER only


def provision_new(
    hub: HubClient,
    out: Path,
    *,
    device_id: str,
    kind: str,
    grid: str | None = None,
    community: str | None = None,
    doors: list[str] | None = None,
    key_on: str = "device",
    broker_host: str,
    broker_port: int,
    tls_ca: Path | None = None,
    hal: str = "board",
    extra: dict[str, Any] | None = None,
    ops_key: str | None = None,
    hw: str = dc.DEFAULT_HW,
) -> dc.DeviceRecord:
    """Check, register (host key) or record as pending (device key), write the config."""
    dc.check_id(device_id)
    if kind not in dc.KINDS:
        raise dc.ConfigError(f"kind {kind!r}: one of {', '.join(dc.KINDS)}")
    if key_on not in dc.KEY_ON:
        raise dc.ConfigError(f"--key-on {key_on!r}: device or host")
    if ops_key is not None:
        ops_key = opskey.check_public(ops_key)
    dc.check_hw(hw)
    if kind == "handheld":
        if grid is None or community is not None or doors:
            raise dc.ConfigError("a handheld takes --grid (and no --community / --door)")
        dc.check_grid(grid)
    else:
        if community is None or not doors:
            raise dc.ConfigError(f"a {kind} gate takes --community and at least one --door")
        dc.check_community(community)
        if grid is not None:
            dc.check_grid(grid)
        for d in doors:
            dc.Door.parse(d)
        grid = _gate_grid(hub, community, grid)
    assert grid is not None
    _check_free(hub, out, device_id, kind, grid)
    record = dc.DeviceRecord(
        id=device_id,
        kind=kind,
        grid=grid,
        key_on=key_on,
        community=community,
        doors=list(doors or []),
    )
    if tls_ca is not None:
        _copy_ca(tls_ca, out / device_id / dc.CA_PATH)
    seed_hex = None
    account = None
    hub_key = hub.hub_key()
    if key_on == "host":
        seed = crypto.new_seed()
        seed_hex = seed.hex()
        record.public_key = crypto.public_key(seed).hex()
    cfg = dc.build(
        record,
        hub_key=hub_key,
        broker_host=broker_host,
        broker_port=broker_port,
        hal=hal,
        seed_hex=seed_hex,
        tls_ca=tls_ca is not None,
        extra=extra,
        ops_key=ops_key,
        hw=hw,
    )
    if key_on == "host":
        assert record.public_key is not None
        answer = hub.register(device_id, kind, record.public_key, grid)
        account = answer.get("broker")
        dc.set_broker_account(cfg, account)
        record.broker_account = bool(account)
        record.status = "registered"
    dc.write_config(out, device_id, cfg)
    record.save(out)
    return record


@app.command("new")
def new(
    ctx: typer.Context,
    device_id: str = typer.Option(..., "--id", help="The device id (e.g. hh-<grid code>)."),
    kind: str = typer.Option(..., "--kind", help="handheld, access, face or barrier."),
    grid: str = typer.Option(None, "--grid", help="The 14-digit grid (handheld; a gate's grid)."),
    community: str = typer.Option(None, "--community", help="A gate's 12-digit community."),
    door: list[str] = typer.Option(
        [], "--door", help="A gate's door: ID[:in|out[:secure|open]] (repeat for more)."
    ),
    key_on: str = typer.Option(
        "device", "--key-on", help="device: the board makes its key pair; host: this tool does."
    ),
    out: Path = OUT,
    broker_host: str = typer.Option(
        None,
        "--broker-host",
        envvar="GRIDLINK_DEVICE_BROKER_HOST",
        help="The broker as the device reaches it (default: the hub's host).",
    ),
    broker_port: int = typer.Option(
        None,
        "--broker-port",
        envvar="GRIDLINK_DEVICE_BROKER_PORT",
        help="Default 1883, or 8883 with --tls-ca.",
    ),
    tls_ca: Path = typer.Option(
        None, "--tls-ca", help="Connect over TLS, verifying the broker with this CA (PEM/DER)."
    ),
    hal: str = typer.Option("board", "--hal", help="board (real drivers) or sim (simulated)."),
    config_json: Path = typer.Option(
        None, "--config-json", help="JSON merged into the config (workers, categories, ...)."
    ),
    ops_pub: str = OPS_PUB,
    hw: str = typer.Option(
        dc.DEFAULT_HW, "--hw", help="The board's hardware name (a bundle must list it)."
    ),
) -> None:
    """Create a device: check the id and grid, register it (or record it as pending until
    flash reads the key it makes), write its config under --out."""
    import urllib.parse

    with _hub(ctx) as hub:
        host = broker_host or urllib.parse.urlsplit(hub.url).hostname or "127.0.0.1"
        record = provision_new(
            hub,
            out,
            device_id=device_id,
            kind=kind,
            grid=grid,
            community=community,
            doors=door,
            key_on=key_on,
            broker_host=host,
            broker_port=broker_port or (8883 if tls_ca else 1883),
            tls_ca=tls_ca,
            hal=hal,
            extra=dc.load_extra(config_json),
            ops_key=ops_pub,
            hw=hw,
        )
    where = dc.config_path(out, device_id)
    if record.status == "pending":
        console.print(
            f"{device_id}: {kind} of grid {record.grid}, pending: the board makes its "
            f"key at `gridlink provision flash`; config {where}"
        )
    else:
        console.print(
            f"{device_id}: {kind} of grid {record.grid} registered, public key "
            f"{record.public_key}; config {where} (holds the key until flashed)"
        )


# --- flash -------------------------------------------------------------------------------


def _copy_progress(total: int, label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def flash_device(
    hub: HubClient,
    out: Path,
    device_id: str,
    port: str,
    *,
    wait_s: float = 120.0,
    progress: bool = True,
    layout: str | None = None,
    src: Path = board_mod.REPO,
    ops_key: str | None = None,
    hw: str | None = None,
) -> dc.DeviceRecord:
    """Copy the firmware + config to the board at ``port``, register the key the board made
    (device path), start the firmware and wait for its signed birth at the hub.

    ``layout`` "ota" (the default when ``src`` has firmware/loader.py): the loader is the
    board's main.py and the firmware goes into slot a, ``<flash>/fw/a/``, with
    ``<flash>/fw/boot.json`` naming it; "flat": the firmware at the board's root, as before
    OTA. ``ops_key`` / ``hw`` replace the config's ``ops_key`` / ``hw`` when given."""
    record = dc.DeviceRecord.load(out, device_id)
    if record.status == "revoked":
        raise ProvisionError(f"device {device_id} is revoked: provision a new id")
    cfg = dc.read_config(out, device_id)
    if record.key_on == "host" and "key" not in cfg:
        raise ProvisionError(
            f"device {device_id}'s key was made here and handed to its board at the first flash;"
            f" it is not kept: rotate it (`gridlink provision rotate {device_id}`) or provision"
            " a new id"
        )
    if ops_key is not None:
        cfg["ops_key"] = opskey.check_public(ops_key)
    if hw is not None:
        cfg["hw"] = dc.check_hw(hw)
    if ops_key is not None or hw is not None:
        dc.write_config(out, device_id, cfg)
    layout = layout or layout_mod.default_layout(src)
    flash_root = str(cfg.get("flash") or dc.FLASH_DIR)
    plan = layout_mod.FlashPlan.make(src, layout, flash_root)
    ca = out / device_id / dc.CA_PATH
    with board_mod.Board.open(port) as board:
        if progress:
            with _copy_progress(plan.size, f"{device_id} firmware") as bar:
                task = bar.add_task("copy", total=plan.size)
                plan.install(board, lambda n: bar.advance(task, n))
        else:
            plan.install(board)
        if ca.exists():
            board.write(dc.CA_PATH, ca.read_bytes())
        on_board = board.read(dc.FLASH_DIR + "/key.pub")
        if record.status == "pending" and on_board:
            # a new identity on a board that has one: another device's key, seq, state and
            # outbox would carry over (review)
            raise ProvisionError(
                f"the board at {port} already holds a device identity (key "
                f"{on_board.decode(errors='replace').strip()[:16]}...): erase its "
                f"{dc.FLASH_DIR}/ directory (mpremote connect {port} fs rm -r :{dc.FLASH_DIR}) "
                f"and flash {device_id} again"
            )
        if record.key_on == "device":
            pub = board.ensure_identity(dc.FLASH_DIR)
        else:
            pub = on_board.decode(errors="replace").strip() if on_board else record.public_key
        if record.status != "pending":
            # the hub's key is the one that counts: a rotation (`rotate`) changed it since
            registered = (hub.device(device_id) or {}).get("public_key")
            if registered and registered != record.public_key:
                record.public_key = registered
                record.save(out)
        if record.public_key is not None and pub != record.public_key:
            raise ProvisionError(
                f"the board at {port} holds the key {pub[:16]}..., not {device_id}'s "
                f"{record.public_key[:16]}... (another board, or its flash was erased): "
                f"revoke {device_id} and provision a new id"
            )
        if record.status == "pending":
            answer = hub.register(device_id, record.kind, pub, record.grid)
            account = answer.get("broker")
            dc.set_broker_account(cfg, account)
            record.public_key = pub
            record.broker_account = bool(account)
            record.status = "registered"
            dc.write_config(out, device_id, cfg)
            record.save(out)
        if record.broker_account and "password" not in cfg["broker"]:
            dc.set_broker_account(cfg, hub.broker_password(device_id))
        board.write(dc.CONFIG_PATH, _json_bytes(cfg))
        board.start(dc.CONFIG_PATH, loader=plan.layout == "ota")
        dc.forget_secrets(out, device_id)
        record.status = "flashed"
        record.save(out)
        if wait_s > 0:
            wait_online(hub, device_id, wait_s, board.check_running)
            record.status = "online"
            record.save(out)
    return record


def _json_bytes(cfg: dict[str, Any]) -> bytes:
    import json

    return json.dumps(cfg, separators=(",", ":"), sort_keys=True).encode()


def wait_online(
    hub: HubClient, device_id: str, timeout: float, check: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Poll the hub until the device's signed birth marked it online (``check`` runs between
    polls: the board's console, which fails fast when the firmware stopped)."""
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        dev = hub.device(device_id)
        if dev is not None and dev.get("online"):
            return dev
        if time.monotonic() >= deadline:
            raise ProvisionError(
                f"{device_id} sent no signed birth within {timeout:.0f} s: check the broker "
                "address and credentials in its config and the board's console"
            )
        time.sleep(0.5)


@app.command("flash")
def flash(
    ctx: typer.Context,
    device_id: str = typer.Argument(..., help="A device made with `provision new`."),
    port: str = typer.Option(..., "--port", help="The board's serial port (/dev/ttyACM0 ...)."),
    out: Path = OUT,
    wait: float = typer.Option(
        120.0, "--wait", help="Seconds to wait for the device's signed birth (0: do not wait)."
    ),
    layout: str = typer.Option(
        None,
        "--layout",
        help="ota (loader + slot a; the default when the tree has firmware/loader.py) or flat.",
    ),
    src: Path = typer.Option(
        board_mod.REPO, "--src", help="The source tree to flash (firmware/, protocol/)."
    ),
    ops_pub: str = OPS_PUB,
    hw: str = typer.Option(None, "--hw", help="Replace the config's hardware name."),
) -> None:
    """Copy firmware + config to the board with mpremote, register the key it made, start
    it, and wait until the hub has its signed birth."""
    with _hub(ctx) as hub:
        record = flash_device(
            hub, out, device_id, port, wait_s=wait, layout=layout, src=src, ops_key=ops_pub, hw=hw
        )
    state = "online at the hub" if record.status == "online" else "started (not waited for)"
    console.print(f"{device_id}: flashed, public key {record.public_key}, {state}")


# --- list / revoke / rotate --------------------------------------------------------------


@app.command("list")
def list_devices(
    ctx: typer.Context,
    kind: str = typer.Option(None, "--kind"),
    status: str = typer.Option(None, "--status", help="active or revoked."),
    grid: str = typer.Option(None, "--grid"),
    online: bool = typer.Option(None, "--online/--offline", show_default=False),
) -> None:
    """The hub's devices, as a table."""
    with _hub(ctx) as hub:
        rows = hub.devices(kind=kind, status=status, grid_code=grid, online=online)
    table = Table("id", "kind", "grid", "status", "online", "last seen", "seq", "public key")
    for d in rows:
        table.add_row(
            d["id"],
            d["kind"],
            d.get("grid_code") or "-",
            d["status"],
            "yes" if d.get("online") else "no",
            (d.get("last_seen") or "-")[:19],
            str(d.get("last_seq", 0)),
            d["public_key"][:16] + "...",
        )
    console.print(table)
    console.print(f"{len(rows)} device(s)")


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    device_id: str = typer.Argument(...),
    reason: str = typer.Option(None, "--reason", help="lost, stolen, replaced, ..."),
    out: Path = OUT,
) -> None:
    """Revoke the device now: its later messages are rejected, its broker account disabled."""
    with _hub(ctx) as hub:
        dev = hub.revoke(device_id, reason)
    broker = dev.get("broker_disabled")
    if broker is True:
        note = "its broker account is disabled and its session dropped"
    elif broker is False:
        note = "its broker account is NOT disabled yet (the hub keeps retrying)"
    else:
        note = "the hub did not say whether its broker account is disabled"
    if (out / device_id / "device.json").exists():
        record = dc.DeviceRecord.load(out, device_id)
        record.status = "revoked"
        record.save(out)
    console.print(f"{device_id}: revoked at {dev.get('revoked_at')}; {note}")


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    device_id: str = typer.Argument(...),
    wait: float = typer.Option(120.0, "--wait", help="Seconds to wait for the device."),
) -> None:
    """Have the device make a new key pair (signed command ``rotate_key``) and print it."""
    with _hub(ctx) as hub:
        cmd = hub.send_command(device_id, "rotate_key", lifetime_s=max(60, int(wait)))
        deadline = time.monotonic() + wait
        while cmd["status"] not in FINAL:
            if time.monotonic() >= deadline:
                raise ProvisionError(
                    f"rotate_key {cmd['id']} is still {cmd['status']} after {wait:.0f} s "
                    "(the device is offline?); the hub keeps it until it expires"
                )
            time.sleep(0.5)
            cmd = hub.command(cmd["id"])
        if cmd["status"] != "succeeded":
            raise ProvisionError(
                f"rotate_key on {device_id} {cmd['status']}: {cmd.get('detail') or 'no detail'}"
            )
        dev = hub.device(device_id) or {}
    console.print(
        f"{device_id}: new public key {cmd.get('detail')} (the hub has {dev.get('public_key')})"
    )


# --- batch -------------------------------------------------------------------------------


@app.command("batch")
def batch(
    ctx: typer.Context,
    csv_path: Path = typer.Argument(..., help="CSV: id,kind,grid,community,doors,port,key_on"),
    out: Path = OUT,
    broker_host: str = typer.Option(None, "--broker-host", envvar="GRIDLINK_DEVICE_BROKER_HOST"),
    broker_port: int = typer.Option(1883, "--broker-port", envvar="GRIDLINK_DEVICE_BROKER_PORT"),
    hal: str = typer.Option("board", "--hal"),
    config_json: Path = typer.Option(None, "--config-json"),
    wait: float = typer.Option(120.0, "--wait", help="Per flashed device (0: do not wait)."),
) -> None:
    """Provision every row (and flash the rows with a port) under one progress bar; a state
    file next to the CSV makes a re-run skip what is done."""
    import urllib.parse

    from provisioning import batch as batch_mod

    with _hub(ctx) as hub:
        host = broker_host or urllib.parse.urlsplit(hub.url).hostname or "127.0.0.1"
        report = batch_mod.run(
            hub,
            csv_path,
            out,
            console=console,
            broker_host=host,
            broker_port=broker_port,
            hal=hal,
            extra=dc.load_extra(config_json),
            wait_s=wait,
        )
    for line in report.errors:
        typer.echo(f"error: {line}", err=True)
    console.print(
        f"{report.done} done ({report.skipped} already), {len(report.errors)} failed; "
        f"state {report.state_path}"
    )
    if report.errors:
        raise typer.Exit(1)


__all__ = ["app", "flash_device", "provision_new", "wait_online", "HubApiError"]
