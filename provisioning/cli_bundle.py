"""``gridlink provision opskey`` and ``gridlink provision bundle``: the key that signs firmware
and the signed bundle built from the source tree (docs/ota.md, "Bundles").

    gridlink provision opskey init --out ops.key        # prints the public key for the hub
    gridlink provision opskey pub ops.key
    gridlink provision bundle --version 0.2.0 --kinds handheld,access,face,barrier \\
        --hw sim-unix --ops-key ops.key --out fw-0.2.0.glb [--src DIR]

Neither needs the hub: bundles are built and signed offline, then uploaded with
``gridlink provision ota upload``.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from protocol import bundle as pb
from provisioning import bundle as bundle_mod
from provisioning import opskey

console = Console(soft_wrap=True)
opskey_app = typer.Typer(help="The ops key that signs firmware bundles.", no_args_is_help=True)
REPO = Path(__file__).resolve().parents[1]


@opskey_app.command("init")
def opskey_init(
    out: Path = typer.Option(..., "--out", help="The key file to create (mode 0600)."),
) -> None:
    """Make a new ops key (refuses to replace one) and print its public key: configure the
    hub with it (GRIDLINK_OTA_OPS_KEY) and provision devices with it (--ops-pub)."""
    pub = opskey.create(out)
    console.print(f"ops key in {out} (mode 0600; keep it off the hub); public key:")
    typer.echo(pub)


@opskey_app.command("pub")
def opskey_pub(key: Path = typer.Argument(..., help="An ops key file.")) -> None:
    """Print the public key of an ops key file."""
    typer.echo(opskey.public_hex(opskey.load_seed(key)))


def _names(text: str, option: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise bundle_mod.BundleBuildError(f"{option}: want a comma-separated list")
    return names


def bundle(
    version: str = typer.Option(
        None, "--version", help="The firmware version (default: VERSION in the source)."
    ),
    kinds: str = typer.Option(
        ",".join(pb.KINDS), "--kinds", help="Device kinds that may install it, comma-separated."
    ),
    hw: str = typer.Option(..., "--hw", help="Hardware names it runs on (or *), comma-separated."),
    ops_key: Path = typer.Option(..., "--ops-key", help="The ops key file that signs it."),
    out: Path = typer.Option(..., "--out", help="The bundle file to write (*.glb)."),
    src: Path = typer.Option(REPO, "--src", help="The source tree (firmware/, protocol/)."),
    name: str = typer.Option("gridlink-fw", "--name", help="The bundle's name."),
) -> None:
    """Build and sign a firmware bundle from the source tree (firmware/ and protocol/; not the
    loader, which is never updated over the air)."""
    if out.exists():
        raise bundle_mod.BundleBuildError(f"{out} exists: choose another --out")
    seed = opskey.load_seed(ops_key)
    version = version or bundle_mod.source_version(src)
    files = bundle_mod.firmware_files(src)
    total = sum(p.stat().st_size for p, _ in files)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as bar:
        task = bar.add_task(f"bundle {version}", total=len(files))
        sealed = bundle_mod.build_bundle(
            src,
            out,
            version=version,
            kinds=_names(kinds, "--kinds"),
            hw=_names(hw, "--hw"),
            ops_seed=seed,
            name=name,
            progress=lambda _path, _n: bar.advance(task),
        )
    console.print(
        f"{out}: {name} {version}, {len(files)} files, {total} bytes, "
        f"signed by {opskey.public_hex(seed)[:16]}...; id {pb.digest(sealed)}"
    )
