"""The device's own signing key, its public half computed once.

protocol.ed25519.sign(seed, msg) without `public` derives the public key again on every call:
a second fixed-base scalar multiplication, about half of a signature's time in pure Python
(~10 of ~25 ms on the unix port). The device signs every envelope, birth and will with one
seed, so Device plugs this backend in at start (only over the pure-Python one: a native
module a board plugged in stays). Signatures are the same bytes (Ed25519 is deterministic).

    keyed.install(seed)
"""

from protocol import crypto, ed25519


class KeyedBackend:
    name = "pure-keyed"

    def __init__(self, seed):
        self.seed = bytes(seed)
        self.public = ed25519.public_key(self.seed)

    def public_key(self, seed):
        return self.public if seed == self.seed else ed25519.public_key(seed)

    def sign(self, seed, msg):
        return ed25519.sign(seed, msg, self.public if seed == self.seed else None)

    def verify(self, public, msg, sig):
        return ed25519.verify(public, msg, sig)


def install(seed):
    """Use a KeyedBackend for `seed` unless a backend other than the pure one is in place."""
    cur = crypto.get_backend()
    name = getattr(cur, "name", "")
    if name == "pure" or (name == "pure-keyed" and cur.seed != bytes(seed)):
        crypto.set_backend(KeyedBackend(seed))
    return crypto.get_backend()
