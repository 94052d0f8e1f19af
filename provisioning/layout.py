"""Where the firmware goes on a board (docs/provisioning.md, "Layout").

"ota": the loader (firmware/loader.py) is the board's ``main.py``; the firmware is slot a,
``<flash>/fw/a/`` (main.py, lib/, hal/, apps/, protocol/), and ``<flash>/fw/boot.json`` says
``{"slot": "a", "version": <the tree's VERSION>, "trial": null, "rolled_back": null}``: what
the OTA path (docs/ota.md) updates and rolls back. "flat": the firmware at the board's root, as
before OTA (a tree without the loader can only be flashed so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from provisioning import board as board_mod
from provisioning import bundle as bundle_mod
from provisioning.errors import ProvisionError

LAYOUTS = ("ota", "flat")
LOADER = "firmware/loader.py"


def default_layout(src: Path) -> str:
    """The layout of a tree: ota when it has the loader (firmware/loader.py), else flat."""
    return "ota" if (Path(src) / LOADER).is_file() else "flat"


@dataclass
class FlashPlan:
    """What goes onto the board, and where, for a layout (docs/provisioning.md, "Layout")."""

    layout: str
    files: list[tuple[Path, str]]  # (local, path on the board)
    boot: bytes | None = None  # <flash>/fw/boot.json (ota)
    loader: Path | None = None  # the board's main.py (ota)
    fw: str = ""  # <flash>/fw (ota)
    slot: str = ""  # <flash>/fw/a (ota)

    @property
    def size(self) -> int:
        extra = self.loader.stat().st_size if self.loader else 0
        return sum(p.stat().st_size for p, _ in self.files) + extra

    @classmethod
    def make(cls, src: Path, layout: str, flash: str) -> FlashPlan:
        if layout not in LAYOUTS:
            raise ProvisionError(f"--layout {layout!r}: ota or flat")
        files = board_mod.firmware_files(src)
        if layout == "flat":
            return cls("flat", files, None, None)
        loader = Path(src) / LOADER
        if not loader.is_file():
            raise ProvisionError(
                f"--layout ota needs the loader, {loader}, which this tree does not have"
                " (--layout flat copies the firmware to the board's root)"
            )
        fw = f"{flash}/fw"
        slot = f"{fw}/a"
        version = bundle_mod.source_version(src)
        boot = {"rolled_back": None, "slot": "a", "trial": None, "version": version}
        boot_json = json.dumps(boot, separators=(",", ":"), sort_keys=True).encode()
        moved = [(p, f"{slot}/{dst}") for p, dst in files]
        return cls("ota", moved, boot_json, loader, fw, slot)

    def install(self, board: board_mod.Board, progress: board_mod.Progress | None = None) -> None:
        """Copy the files. OTA: remove ``<flash>/fw`` first (no stale module, trial, download
        or job of an earlier firmware survives a flash), fill slot a, write boot.json, and put
        the loader in main.py last (until then the board boots what it had)."""
        if self.layout == "flat":
            board.put_files(self.files, progress)
            return
        assert self.boot is not None and self.loader is not None
        board.remove_tree(self.fw)
        board.put_files(self.files, progress)
        board.write(self.fw + "/boot.json", self.boot)
        board.write("main.py", self.loader.read_bytes(), progress)
        board.sys_path = (self.slot + "/lib", self.slot)
