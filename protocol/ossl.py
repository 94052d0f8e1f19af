"""CPython-only backend: Ed25519 through `cryptography` (OpenSSL). Not for MicroPython."""

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


class CryptographyBackend:
    name = "cryptography"

    def __init__(self):
        self._private = {}
        self._public = {}

    def _key(self, seed):
        key = self._private.get(seed)
        if key is None:
            key = Ed25519PrivateKey.from_private_bytes(seed)
            if len(self._private) > 256:
                self._private.clear()
            self._private[seed] = key
        return key

    def public_key(self, seed):
        return self._key(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, seed, msg):
        return self._key(seed).sign(bytes(msg))

    def verify(self, public, msg, sig):
        if len(public) != 32 or len(sig) != 64:
            return False
        key = self._public.get(public)
        try:
            if key is None:
                key = Ed25519PublicKey.from_public_bytes(public)
                if len(self._public) > 65536:
                    self._public.clear()
                self._public[public] = key
            key.verify(bytes(sig), bytes(msg))
        except (InvalidSignature, ValueError):
            return False
        return True
