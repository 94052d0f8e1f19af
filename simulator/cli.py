"""`gridlink sim ...`: run a fleet of simulated handhelds against a broker.

``run`` fails fast (one line, exit 1) when the broker is unreachable, exits 1 when a device did
not finish or, given the hub's key (``--hub-key``), when the hub's receipts do not cover every
device's events (the hub rejected them, or stored none), and never prints a secret.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import typer

from simulator import scenarios
from simulator.fleet import Fleet

app = typer.Typer(
    help="Simulated devices: real firmware on the MicroPython unix port.", no_args_is_help=True
)


BROKER_CHECK_S = 3.0


def _broker(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter("want host:port, e.g. 127.0.0.1:1883")
    return host, int(port)


def _require_broker(host: str, port: int) -> None:
    """A TCP connection to the broker within a few seconds, else ``ConnectionError`` (the
    ``gridlink`` command prints it as one line)."""
    try:
        socket.create_connection((host, port), timeout=BROKER_CHECK_S).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ConnectionError(f"cannot reach the MQTT broker at {host}:{port}: {reason}") from None


def _accounts(host: str, port: int):
    """Device accounts made with the hub's broker account (the environment's GRIDLINK_MQTT_*
    settings); a missing or refused account is one line (ValueError / BrokerAdminError)."""
    from pydantic import ValidationError

    from hub import broker_admin
    from hub.settings import Settings

    try:
        settings = Settings(
            env="development", mqtt_host=host, mqtt_port=port, broker_accounts="dynsec"
        )
    except ValidationError:
        raise ValueError(
            "--broker-accounts needs the hub's broker account: set GRIDLINK_MQTT_USERNAME "
            "and GRIDLINK_MQTT_PASSWORD"
        ) from None
    return broker_admin.device_accounts(settings)


def _hub_seed(path: Path) -> bytes:
    from hub.keys import load  # the hub's key file format (PKCS#8 PEM or a hex seed)

    return load(path).seed


@app.command()
def run(
    devices: int = typer.Option(1, "--devices", "-n", min=1, help="number of handhelds"),
    broker: str = typer.Option("127.0.0.1:1883", help="MQTT broker host:port"),
    scenario: str = typer.Option("patrol", help=f"one of {', '.join(scenarios.SCENARIOS)}"),
    root: Path | None = typer.Option(None, help="config + flash directories (default: temp)"),
    heapsize: str = typer.Option("192K", help="micropython -X heapsize"),
    grid_prefix: str = typer.Option("330102001001", help="12-digit community code"),
    keys_out: Path | None = typer.Option(None, help="write device + hub public keys (JSON)"),
    clock_offset_s: int = typer.Option(0, help="clock skew of every device"),
    timeout: float = typer.Option(300, help="seconds to wait for the scenario to finish"),
    broker_accounts: bool = typer.Option(
        False,
        "--broker-accounts",
        help="a locked-down broker (docs/broker-security.md): give each device its own account, "
        "made with the hub's account from GRIDLINK_MQTT_USERNAME / GRIDLINK_MQTT_PASSWORD",
    ),
    hub_key: Path | None = typer.Option(
        None,
        help="the hub's command key file (GRIDLINK_HUB_KEY_PATH): devices trust that hub, keep "
        "each event until its receipt, and the run fails unless receipts cover them all",
    ),
) -> None:
    """Start N handhelds playing a scenario; wait until they finish; print a summary.

    Exit 1 when a device did not finish in time or failed, or (with --hub-key) when the hub
    did not confirm every device's events.
    """
    host, port = _broker(broker)
    if scenario not in scenarios.SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {scenario}")
    _require_broker(host, port)
    accounts = _accounts(host, port) if broker_accounts else None
    fleet = Fleet(
        host,
        port,
        root=root,
        hub_seed=_hub_seed(hub_key) if hub_key else None,
        accounts=accounts,
    )
    by_receipt = {"trim_on": "receipt"} if hub_key else {}
    for i in range(devices):
        fleet.add_handheld(
            f"hh-{i + 1:04d}",
            f"{grid_prefix}{(i % 99) + 1:02d}",
            scenario=scenarios.SCENARIOS[scenario](),
            heapsize=heapsize,
            clock_offset_s=clock_offset_s,
            **by_receipt,
        )
    if keys_out:
        fleet.write_keys(keys_out)
        typer.echo(f"keys written to {keys_out}")
    typer.echo(f"hub command key (public): {fleet.hub_public_key.hex()}")
    if hub_key is None:
        typer.echo("no --hub-key: nothing checks that a hub stored the events")
    failures: list[str] = []
    t0 = time.monotonic()
    fleet.start()
    try:
        for dev in fleet.devices.values():
            left = max(1.0, timeout - (time.monotonic() - t0))
            try:
                rc: int | None = dev.wait(left)
            except TimeoutError:
                rc = None
                failures.append(f"{dev.device_id} did not finish within {timeout:g} s")
            st = dev.state()
            seq, hub_seq = st.get("seq") or 0, st.get("hub_seq") or 0
            if rc not in (0, None):
                failures.append(f"{dev.device_id} exited with code {rc} (see {dev.log_path})")
            if hub_key is not None and hub_seq < seq:
                failures.append(
                    f"{dev.device_id}: the hub confirmed seq {hub_seq} of {seq} (device "
                    "registered? see GET /api/events/rejections)"
                )
            row = {"device": dev.device_id, "rc": rc, "seq": st.get("seq")}
            row.update(hub_seq=st.get("hub_seq"), session=st.get("session"))
            typer.echo(json.dumps({**row, "s": round(time.monotonic() - t0, 1)}))
    except KeyboardInterrupt:
        typer.echo("stopping")
        failures.append("interrupted")
    finally:
        fleet.stop()
        fleet.kill()
    typer.echo(f"logs and flash under {fleet.root}")
    if failures:
        for failure in failures:
            typer.echo(f"error: {failure}", err=True)
        raise typer.Exit(1)


@app.command()
def scenario(name: str = typer.Argument("patrol")) -> None:
    """Print a scenario script as JSON lines (what the simulated UI plays)."""
    if name not in scenarios.SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {name}")
    for act in scenarios.SCENARIOS[name]():
        typer.echo(json.dumps(act, ensure_ascii=False))
