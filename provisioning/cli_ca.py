"""``gridlink provision ca``: the deployment's certificate authority (provisioning.certs).

    gridlink provision ca init   --dir pki                          # ca.pem, ca.key (0600), ca.der
    gridlink provision ca server --dir pki --host broker.city.example --host 10.0.0.5
    gridlink provision ca client --dir pki --name hh-0001 --out dev/hh-0001

docs/tls.md says where each file goes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from provisioning.certs import CertError, create_ca, load_ca

app = typer.Typer(help="The certificate authority for TLS to the broker (docs/tls.md).")
console = Console()
DirOption = Annotated[Path, typer.Option("--dir", help="The CA's directory.")]


def _fail(exc: CertError) -> typer.Exit:
    console.print(f"[red]error[/red]: {exc}", soft_wrap=True)
    return typer.Exit(1)


@app.command("init")
def init(
    dir: DirOption,
    name: Annotated[str, typer.Option(help="The CA's common name.")] = "Gridlink CA",
) -> None:
    """Create the CA (refuses to replace one: what it signed would stop verifying)."""
    try:
        create_ca(dir, name)
    except CertError as exc:
        raise _fail(exc) from None
    console.print(f"CA {name!r} in {dir}: ca.pem (broker, hub), ca.der (devices), ca.key (0600)")


@app.command("server")
def server(
    dir: DirOption,
    host: Annotated[list[str], typer.Option("--host", help="DNS name or IP; repeat.")],
) -> None:
    """Issue the broker's certificate for its names and addresses: server.pem, server.key."""
    try:
        cert, key = load_ca(dir).issue_server(dir, host)
    except CertError as exc:
        raise _fail(exc) from None
    console.print(f"broker certificate for {', '.join(host)}: {cert}, {key} (0600)")


@app.command("client")
def client(
    dir: DirOption,
    name: Annotated[str, typer.Option(help="The device id, or 'hub'.")],
    out: Annotated[Path, typer.Option(help="Directory the certificate and key go to.")],
) -> None:
    """Issue a client certificate (CN = name): <name>.pem/.key (PEM) and .crt.der/.key.der."""
    try:
        files = load_ca(dir).issue_client(name).write(out)
    except CertError as exc:
        raise _fail(exc) from None
    for label, path in files.items():
        console.print(f"  {label:9} {path}")
