"""The device's one JSON config (docs/firmware.md, docs/access.md) and the provisioning record
kept next to it, one directory per device under ``--out``:

    <out>/<device id>/config.json   what goes onto the board (the seed too, on the host path)
    <out>/<device id>/device.json   what provisioning knows: kind, grid, key_on, status, public key

The record never holds a secret: the seed (``--key-on host``) and the broker password exist only
in config.json, which is copied to the board; ``forget_secrets`` strips them once the board has
them, so the workstation keeps none.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from protocol import topics
from protocol.errors import ProtocolError
from provisioning.errors import ProvisionError

KINDS = ("handheld", "access", "face", "barrier")
KEY_ON = ("device", "host")
# Paths on the board, relative to its working directory: "/" on a board, the board directory
# on the unix port (whose "/" is the host's root).
CONFIG_PATH = "config.json"
FLASH_DIR = "flash"
CA_PATH = "ca.der"
# the peripherals of each app: a copy of firmware/hal/drivers.py APP_PARTS (MicroPython code;
# tests/provisioning/test_device_config.py fails when they differ) and the real-board driver of
# each where the firmware has one; the others are "none" until their drivers exist
APP_PARTS = {
    "handheld": ("camera", "microphone", "gps", "battery", "ui"),
    "access": ("lock", "door", "exit", "card", "keypad", "tamper", "help", "battery"),
    "face": (
        "face",
        "camera",
        "lock",
        "door",
        "exit",
        "card",
        "keypad",
        "tamper",
        "help",
        "battery",
    ),
    "barrier": ("plate", "camera", "barrier", "loop", "card", "tamper", "help", "battery"),
}
BOARD_DRIVERS = {"battery": "board", "ui": "board"}
DEFAULT_HW = "generic"  # the firmware's default (config.DEFAULTS["hw"])
_HW_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
STATUSES = ("pending", "registered", "flashed", "online", "revoked")


class ConfigError(ProvisionError):
    pass


@dataclass
class Door:
    id: str
    dir: str = "in"
    fail: str = "secure"

    @classmethod
    def parse(cls, spec: str) -> Door:
        """``d1``, ``d1:out`` or ``d1:in:open``."""
        parts = spec.split(":")
        if len(parts) > 3 or not parts[0]:
            raise ConfigError(f"door {spec!r}: want ID[:in|out[:secure|open]]")
        door = cls(parts[0], *parts[1:])
        if len(door.id) > 16 or any(
            not (c.isascii() and (c.isalnum() or c in "_.-")) for c in door.id
        ):
            raise ConfigError(f"door {spec!r}: the id is 1-16 of A-Z a-z 0-9 _ . -")
        if door.dir not in ("in", "out"):
            raise ConfigError(f"door {spec!r}: direction in or out")
        if door.fail not in ("secure", "open"):
            raise ConfigError(f"door {spec!r}: fail secure or open")
        return door


@dataclass
class DeviceRecord:
    """What provisioning knows about one device (device.json); never a secret."""

    id: str
    kind: str
    grid: str
    key_on: str
    status: str = "pending"
    public_key: str | None = None
    community: str | None = None
    doors: list[str] = field(default_factory=list)
    broker_account: bool = False  # the hub made a broker account (its password is in the config)

    def save(self, out: Path) -> None:
        _write_json(out / self.id / "device.json", asdict(self), mode=0o644)

    @classmethod
    def load(cls, out: Path, device_id: str) -> DeviceRecord:
        path = out / device_id / "device.json"
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except FileNotFoundError:
            raise ConfigError(
                f"device {device_id} is not provisioned under {out} "
                f"(run `gridlink provision new --id {device_id} ...` or pass --out)"
            ) from None
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{path}: not a provisioning record ({exc})") from None


def check_id(device_id: str) -> str:
    try:
        return str(topics.validate_device_id(device_id))
    except ProtocolError as exc:
        raise ConfigError(f"device id {device_id!r}: {exc.message}") from None


def check_grid(grid: str) -> str:
    if len(grid) != 14 or not grid.isdigit() or not grid.isascii():
        raise ConfigError(f"grid {grid!r}: want the 14-digit unit-grid code")
    return grid


def check_community(community: str) -> str:
    if len(community) != 12 or not community.isdigit() or not community.isascii():
        raise ConfigError(f"community {community!r}: want the 12-digit community code")
    return community


def check_hw(hw: str) -> str:
    """A hardware name as bundles list it: 1-64 of A-Z a-z 0-9 _ . - (not "*")."""
    if not 1 <= len(hw) <= 64 or any(c not in _HW_CHARS for c in hw):
        raise ConfigError(f"hw {hw!r}: want a hardware name, 1-64 of A-Z a-z 0-9 _ . -")
    return hw


def hal_for(kind: str, hal: str) -> dict[str, str]:
    if hal == "sim":
        return {part: "sim" for part in APP_PARTS[kind]}
    if hal == "board":
        return {part: BOARD_DRIVERS.get(part, "none") for part in APP_PARTS[kind]}
    raise ConfigError(f"hal {hal!r}: board or sim")


def build(
    record: DeviceRecord,
    *,
    hub_key: str,
    broker_host: str,
    broker_port: int,
    hal: str = "board",
    seed_hex: str | None = None,
    tls_ca: bool = False,
    server_name: str | None = None,
    extra: dict[str, Any] | None = None,
    ops_key: str | None = None,
    hw: str = DEFAULT_HW,
) -> dict[str, Any]:
    """The device config. ``extra`` (a site's workers, categories, door timings, sim settings)
    is merged one level deep, as the firmware merges over its defaults; it may not set the
    identity keys. ``ops_key`` (the ops public key, 64 hex) lets the device take signed
    firmware bundles (without it it refuses them: no_ops_key); ``hw`` names its hardware, which
    a bundle must list (docs/ota.md)."""
    cfg: dict[str, Any] = {
        "device_id": record.id,
        "app": record.kind,
        "grid": record.grid,
        "flash": FLASH_DIR,
        "hub_key": hub_key,
        "broker": {"host": broker_host, "port": broker_port, "keepalive": 30},
        "hal": hal_for(record.kind, hal),
        "hw": check_hw(hw),
    }
    if ops_key is not None:
        cfg["ops_key"] = ops_key
    if tls_ca:
        cfg["broker"].update(tls=True, ca=CA_PATH, server_name=server_name or broker_host)
    if record.kind != "handheld":
        cfg["community"] = record.community
        cfg["doors"] = [asdict(Door.parse(d)) for d in record.doors]
    for key, value in (extra or {}).items():
        if key in ("device_id", "app", "grid", "key", "hub_key", "community", "ops_key", "hw"):
            raise ConfigError(f"extra config may not set {key!r} (provisioning sets it)")
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    if seed_hex is not None:
        cfg["key"] = seed_hex
    return cfg


def set_broker_account(cfg: dict[str, Any], account: dict[str, Any] | None) -> None:
    """Put the hub's answer ``broker`` (``None``: the broker takes no accounts) into the config."""
    if account:
        cfg["broker"] = {
            **cfg["broker"],
            "user": account["username"],
            "password": account["password"],
            "client_id": account["client_id"],
        }


def config_path(out: Path, device_id: str) -> Path:
    return out / device_id / CONFIG_PATH


def write_config(out: Path, device_id: str, cfg: dict[str, Any]) -> Path:
    path = config_path(out, device_id)
    _write_json(path, cfg, mode=0o600)
    return path


def read_config(out: Path, device_id: str) -> dict[str, Any]:
    path = config_path(out, device_id)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing: run `gridlink provision new` again") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: want a JSON object")
    return data


def forget_secrets(out: Path, device_id: str) -> None:
    """The board holds the config now: drop the seed and the broker password from the copy on
    this workstation (a re-flash of a device whose key was made here needs a new key)."""
    cfg = read_config(out, device_id)
    cfg.pop("key", None)
    if isinstance(cfg.get("broker"), dict):
        cfg["broker"].pop("password", None)
    write_config(out, device_id, cfg)


def load_extra(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"extra config {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"extra config {path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"extra config {path}: want a JSON object")
    return data


def _write_json(path: Path, data: object, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
