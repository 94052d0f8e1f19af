"""Signing backend hook. The pure-Python Ed25519 is the default; the hub plugs in
`protocol.ossl.CryptographyBackend` and a board can plug in a native module with the same
three functions: public_key(seed), sign(seed, msg), verify(public, msg, sig) -> bool.
"""

import hashlib
import os

from protocol import ed25519


class PureBackend:
    name = "pure"

    def public_key(self, seed):
        return ed25519.public_key(seed)

    def sign(self, seed, msg):
        return ed25519.sign(seed, msg)

    def verify(self, public, msg, sig):
        return ed25519.verify(public, msg, sig)


_backend = PureBackend()


def set_backend(backend):
    global _backend
    _backend = backend


def get_backend():
    return _backend


def public_key(seed):
    return _backend.public_key(bytes(seed))


def sign(seed, msg):
    return _backend.sign(bytes(seed), msg)


def verify(public, msg, sig):
    return _backend.verify(bytes(public), msg, sig)


def new_seed():
    return os.urandom(32)


def sha256_hex(data):
    return hashlib.sha256(data).digest().hex()
