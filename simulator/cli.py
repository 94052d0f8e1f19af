"""`gridlink sim ...`: run a fleet of simulated handhelds against a broker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from simulator import scenarios
from simulator.fleet import Fleet

app = typer.Typer(
    help="Simulated devices: real firmware on the MicroPython unix port.", no_args_is_help=True
)


def _broker(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter("want host:port, e.g. 127.0.0.1:1883")
    return host, int(port)


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
) -> None:
    """Start N handhelds playing a scenario; wait until they finish; print a summary."""
    host, port = _broker(broker)
    if scenario not in scenarios.SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {scenario}")
    fleet = Fleet(host, port, root=root)
    for i in range(devices):
        fleet.add_handheld(
            f"hh-{i + 1:04d}",
            f"{grid_prefix}{(i % 99) + 1:02d}",
            scenario=scenarios.SCENARIOS[scenario](),
            heapsize=heapsize,
            clock_offset_s=clock_offset_s,
        )
    if keys_out:
        fleet.write_keys(keys_out)
        typer.echo(f"keys written to {keys_out}")
    typer.echo(f"hub command key (public): {fleet.hub_public_key.hex()}")
    typer.echo(f"hub command seed (keep secret): {fleet.hub_seed.hex()}")
    t0 = time.monotonic()
    fleet.start()
    try:
        for dev in fleet.devices.values():
            left = max(1.0, timeout - (time.monotonic() - t0))
            rc = dev.wait(left)
            st = dev.state()
            typer.echo(
                json.dumps(
                    {
                        "device": dev.device_id,
                        "rc": rc,
                        "seq": st.get("seq"),
                        "session": st.get("session"),
                        "s": round(time.monotonic() - t0, 1),
                    }
                )
            )
    except KeyboardInterrupt:
        typer.echo("stopping")
    finally:
        fleet.stop()
        fleet.kill()
    typer.echo(f"logs and flash under {fleet.root}")


@app.command()
def scenario(name: str = typer.Argument("patrol")) -> None:
    """Print a scenario script as JSON lines (what the simulated UI plays)."""
    if name not in scenarios.SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {name}")
    for act in scenarios.SCENARIOS[name]():
        typer.echo(json.dumps(act, ensure_ascii=False))
