"""The hub's command key: an Ed25519 private key kept in one file.

``load_or_create`` makes the file; it runs when the hub migrates, runs or seeds (and for
``gridlink hub key``), never while answering a request, which only ``load``s it.

The hub signs commands, receipts and its own state message with this key; devices hold only the
public half (written into their config at provisioning). The seed file is created with 0600
permissions and is never logged or exposed; only the public key leaves this module. The file is
an unencrypted PKCS#8 PEM (what ``openssl pkey`` reads); a bare 64-hex-character seed is accepted
too.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import crypto

logger = logging.getLogger(__name__)

SEED_BYTES = 32


class HubKeyError(Exception):
    """The key file exists but is unusable (wrong size, not hex, too open)."""


@dataclass(frozen=True)
class HubKey:
    """The hub's signing key. ``seed`` stays in memory; ``public_key`` may be published."""

    seed: bytes = field(repr=False)
    public_key: bytes

    @property
    def public_key_hex(self) -> str:
        return self.public_key.hex()

    @classmethod
    def from_seed(cls, seed: bytes) -> HubKey:
        if len(seed) != SEED_BYTES:
            raise HubKeyError("a hub key seed is 32 bytes")
        return cls(seed=bytes(seed), public_key=bytes(crypto.public_key(seed)))

    @classmethod
    def generate(cls) -> HubKey:
        return cls.from_seed(crypto.new_seed())


def seed_to_pem(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _parse_seed(data: bytes, path: Path) -> bytes:
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text, password=None)
        except (ValueError, TypeError) as exc:
            raise HubKeyError(f"{path}: unreadable PEM key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise HubKeyError(f"{path}: not an Ed25519 key")
        return key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    try:
        return bytes.fromhex(text.decode("ascii"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise HubKeyError(f"{path}: neither PEM nor a hex Ed25519 seed") from exc


def _read_seed(path: Path) -> bytes:
    seed = _parse_seed(path.read_bytes(), path)
    if len(seed) != SEED_BYTES:
        raise HubKeyError(f"{path}: expected {SEED_BYTES} bytes, found {len(seed)}")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        logger.warning("hub key %s has mode %o; tightening to 0600", path, mode)
        os.chmod(path, 0o600)
    return seed


def load(path: str | os.PathLike[str]) -> HubKey:
    """Load the hub key from ``path`` (``FileNotFoundError`` when there is none yet)."""
    return HubKey.from_seed(_read_seed(Path(path)))


def load_or_create(path: str | os.PathLike[str]) -> HubKey:
    """Load the hub key from ``path``, creating it (mode 0600, atomically) when missing."""
    key_path = Path(path)
    if key_path.exists():
        return HubKey.from_seed(_read_seed(key_path))
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key = HubKey.generate()
    tmp = key_path.with_name(key_path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(seed_to_pem(key.seed))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, key_path)  # fails if another process created it meanwhile
        except FileExistsError:
            return HubKey.from_seed(_read_seed(key_path))
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("created hub command key %s (public %s)", key_path, key.public_key_hex)
    return key
