"""``gridlink provision broker init``: write the locked-down Mosquitto configuration.

    gridlink provision broker init --dir /etc/gridlink/broker [--listen 0.0.0.0:1883]
                                   [--tls-dir CA_DIR [--require-certificate]]
    mosquitto -c /etc/gridlink/broker/mosquitto.conf

It prints the hub's broker credentials once, as GRIDLINK_MQTT_* lines for the hub's
environment; they are not kept anywhere else (the broker holds only the hash).
"""

from __future__ import annotations

from pathlib import Path

import typer

from provisioning import broker

app = typer.Typer(help="The locked-down Mosquitto broker (docs/broker-security.md).")


def _listen(value: str, default_port: int) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if ":" in value else (value, "", str(default_port))
    try:
        number = int(port)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: expected host:port") from None
    if not host or not 0 < number < 65536:
        raise typer.BadParameter(f"{value!r}: expected host:port with a port 1-65535")
    return host, number


@app.command()
def init(
    dir: Path = typer.Option(..., "--dir", help="config directory to write (created)"),
    listen: str = typer.Option(
        "", help="host:port to listen on (default 0.0.0.0:1883, or 0.0.0.0:8883 with TLS)"
    ),
    tls_dir: Path | None = typer.Option(
        None, help="directory with ca.pem, server.pem, server.key (gridlink provision ca)"
    ),
    require_certificate: bool = typer.Option(
        False, help="with --tls-dir: clients must present a certificate signed by the CA"
    ),
) -> None:
    """Write mosquitto.conf and dynamic-security.json (the hub's account, deny by default)."""
    tls = None
    if tls_dir is not None:
        files = [tls_dir / n for n in ("ca.pem", "server.pem", "server.key")]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            typer.echo(f"error: --tls-dir lacks {', '.join(missing)}", err=True)
            raise typer.Exit(1)
        ca, cert, key = (f.resolve() for f in files)
        tls = broker.TlsFiles(ca, cert, key, require_certificate)
    elif require_certificate:
        raise typer.BadParameter("--require-certificate needs --tls-dir")
    host, port = _listen(listen or "0.0.0.0", 8883 if tls else 1883)
    if (dir / "dynamic-security.json").exists():
        typer.echo(
            f"error: {dir / 'dynamic-security.json'} exists: it holds the broker's accounts "
            "(the hub's and every device's); move it away to start afresh",
            err=True,
        )
        raise typer.Exit(1)
    cfg = broker.write(dir, [broker.Listener(host, port, tls)])
    typer.echo(f"wrote {cfg.conf_path} and {cfg.dynsec_path}")
    typer.echo(f"run: mosquitto -c {cfg.conf_path}  (as a user that may write {cfg.dir})")
    typer.echo("the hub's broker settings (shown once, not stored):")
    for line in cfg.env_lines():
        typer.echo(line)
