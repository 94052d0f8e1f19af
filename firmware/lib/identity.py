# The device's signing key, made on the device (docs/firmware.md, "Identity and key rotation").
#
#   pub_hex = identity.ensure("/flash")             # what provisioning runs over mpremote
#   seed = identity.load("/flash", cfg.get("key"))  # what Device uses at start
#
# <flash>/key     the Ed25519 seed, 64 hex digits. It wins over the config's `key`; when
#                 neither exists, load() makes one with os.urandom(32) (first boot).
# <flash>/key.pub the public key of the active seed, 64 hex digits: what provisioning reads
#                 back over mpremote (never the seed). Rewritten whenever it differs.
# <flash>/key.new a seed staged by a rotation (stage()); commit() renames it over key.
#
# Every file is written to <name>.tmp, closed and renamed over <name>, so a power cut leaves
# the old file or the new one, never half of one; a leftover .tmp is torn and ignored.
import binascii
import os

from compat import exists, remove, replace


class IdentityError(Exception):
    pass


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    replace(tmp, path)


def _read_hex(path):
    # the 32 bytes a 64-hex-digit file holds; IdentityError naming the file when it is not one
    with open(path) as f:
        text = f.read().strip()
    if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise IdentityError("%s: want 64 hex digits (32 bytes)" % path)
    return binascii.unhexlify(text)


def _hex(b):
    return binascii.hexlify(b).decode()


def new_seed():
    """32 random bytes from os.urandom; IdentityError when this port has none."""
    rnd = getattr(os, "urandom", None)
    if rnd is None:
        raise IdentityError("no os.urandom on this port: provision a CLI-made key "
                            "(gridlink provision new writes it into the config's key)")
    seed = rnd(32)
    if len(seed) != 32 or seed == b"\0" * 32:
        raise IdentityError("os.urandom gave no usable seed: provision a CLI-made key")
    return seed


def load(flash, cfg_key=None):
    """The active seed: <flash>/key if present, else cfg_key (64 hex), else a new seed saved
    to <flash>/key (first boot)."""
    path = flash + "/key"
    if exists(path):
        return _read_hex(path)
    if cfg_key:
        return binascii.unhexlify(cfg_key)
    seed = staged(flash)
    if seed is not None:
        # key.new without key or a config key: a commit cut on FAT (compat.replace removes
        # key before the rename) after the new key was announced; Device finishes it
        return seed
    seed = new_seed()
    _write(path, _hex(seed))
    return seed


def public_hex(seed):
    from protocol import crypto

    return _hex(crypto.public_key(seed))


def publish(flash, pub_hex):
    """Write <flash>/key.pub unless it already holds pub_hex."""
    path = flash + "/key.pub"
    try:
        with open(path) as f:
            if f.read().strip() == pub_hex:
                return
    except OSError:
        pass
    _write(path, pub_hex)


def ensure(flash, cfg_key=None):
    """Make sure the device has its key (load()) and <flash>/key.pub names it; the public key
    hex. Provisioning runs `import identity; print(identity.ensure("/flash"))` on the board."""
    if not exists(flash):
        os.mkdir(flash)
    pub = public_hex(load(flash, cfg_key))
    publish(flash, pub)
    return pub


# --- rotation: stage, announce (Device), commit ----------------------------------------------


def staged(flash):
    """The seed a cut rotation left in <flash>/key.new, or None."""
    path = flash + "/key.new"
    if not exists(path):
        return None
    try:
        return _read_hex(path)
    except IdentityError:  # cannot happen through _write; a damaged file is never used
        remove(path)
        return None


def stage(flash):
    """A new seed, durable in <flash>/key.new before anything is signed about it."""
    seed = new_seed()
    _write(flash + "/key.new", _hex(seed))
    return seed


def commit(flash, seed):
    """The staged seed becomes the key: key.new renamed over key, key.pub rewritten."""
    replace(flash + "/key.new", flash + "/key")
    publish(flash, public_hex(seed))


def discard(flash):
    remove(flash + "/key.new")
