"""The ops key: the Ed25519 seed that signs firmware bundles. It lives in one file on the
build / release workstation (64 hex digits, one line, mode 0600) and nowhere else; the hub and
the devices hold only its public key (``GRIDLINK_OTA_OPS_KEY``, the config's ``ops_key``), so a
leaked hub cannot push firmware. docs/ota.md, "Bundles".
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from protocol import crypto
from provisioning.errors import ProvisionError

_HEX = set("0123456789abcdef")


class OpsKeyError(ProvisionError):
    pass


def create(path: Path) -> str:
    """Make a new seed in ``path`` (mode 0600; refused when the file exists) and return the
    public key hex."""
    path = Path(path)
    seed = crypto.new_seed()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise OpsKeyError(
            f"{path} exists: an ops key is never replaced (devices trust its public key)"
        ) from None
    except OSError as exc:
        raise OpsKeyError(f"ops key {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(seed.hex() + "\n")
    return crypto.public_key(seed).hex()


def load_seed(path: Path) -> bytes:
    """The seed in ``path``; refused when the file is missing, not one line of 64 hex digits,
    or readable by anyone but its owner."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise OpsKeyError(
            f"ops key {path} does not exist (make one with `gridlink provision opskey init`)"
        ) from None
    except OSError as exc:
        raise OpsKeyError(f"ops key {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise OpsKeyError(f"ops key {path}: not a key file (want 64 hex digits)") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise OpsKeyError(
            f"ops key {path} is open to other users (mode {stat.S_IMODE(mode):04o}): "
            f"chmod 600 {path}"
        )
    value = text.strip()
    if len(value) != 64 or not set(value) <= _HEX or text.count("\n") > 1:
        raise OpsKeyError(f"ops key {path}: not a key file (want 64 lower-case hex digits)")
    return bytes.fromhex(value)


def public_hex(seed: bytes) -> str:
    return crypto.public_key(seed).hex()


def check_public(value: str, what: str = "--ops-pub") -> str:
    """A public key as the hub and devices take it: 64 lower-case hex digits."""
    key = value.strip().lower()
    if len(key) != 64 or not set(key) <= _HEX:
        raise OpsKeyError(f"{what} {value!r}: want the ops public key, 64 hex digits")
    return key
