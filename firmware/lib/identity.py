# The device's signing key, made on the device (docs/firmware.md, "Identity and key rotation").
#
#   pub_hex = identity.ensure("/flash")             # what provisioning runs over mpremote
#   seed = identity.load("/flash", cfg.get("key"))  # what Device uses at start
#
# <flash>/key     the Ed25519 seed, 64 hex digits. It wins over the config's `key`; when
#                 neither exists, load() makes one with os.urandom(32) (first boot).
# <flash>/key.pub the public key of the active seed, 64 hex digits: what provisioning reads
#                 back over mpremote (never the seed). Rewritten whenever it differs.
# <flash>/key.new a seed staged by rotate(), renamed over key once announced; finish()
#                 completes a rotation a power cut interrupted.
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


# --- rotation (Device's rotate_key command and start) ----------------------------------------
# key.new written (temp + rename), the `key` event signed by the OLD key put in the outbox
# with state "rot" = its pub saved together with the chain head, then key.new renamed over key
# and the signer switched: the device never signs with a key its chain has not announced.


def rotate(dev, new=None):
    """Rotate dev's key to `new` (default: a new seed staged in key.new); the new pub hex.
    ValueError (key.new removed, the old key kept) when the outbox refuses the key event."""
    if new is None:
        new = new_seed()
        _write(dev.root + "/key.new", _hex(new))
    # no await from here to the end: nothing else signs while the key changes
    pub = public_hex(new)
    if dev._emit("key", {"pub": pub}, extra={"rot": pub}) is None:
        remove(dev.root + "/key.new")  # never announced, never used: safe to forget
        raise ValueError("rotate_key: outbox full, key event not stored")
    _commit(dev, new)
    return pub


def _commit(dev, new):
    replace(dev.root + "/key.new", dev.root + "/key")
    dev._use_key(new)
    publish(dev.root, dev.pub_hex)


def staged(flash):
    """The seed a cut rotation left in <flash>/key.new, or None."""
    path = flash + "/key.new"
    if not exists(path):
        return None
    try:
        return _read_hex(path)
    except IdentityError:  # cannot happen through a temp + rename; never use a damaged one
        remove(path)
        return None


def finish(dev):
    """At start: a <flash>/key.new is a rotation a power cut interrupted. Announce it (the same
    `key` event, signed by the old key) unless the chain already holds it, then commit it."""
    new = staged(dev.root)
    if new is None:
        return
    pub = public_hex(new)
    if dev.state.get("rot") == pub or _announced(dev, pub):
        _commit(dev, new)
        return
    try:
        rotate(dev, new)
    except ValueError as e:  # outbox full: key.new removed, the old key stays
        import log

        log.getLogger("identity").error("%s", e)


def _announced(dev, pub):
    # the key event for pub in the outbox: put, then the power went before the state save
    # (Device._reconcile adopted it as the chain head)
    import outbox

    from protocol import envelope, topics
    from protocol.errors import ProtocolError

    t = topics.evt(dev.dev, "key")
    for rec in dev.outbox.iter():
        if outbox.rec_topic(rec) != t:
            continue
        try:
            env = envelope.parse(outbox.rec_payload(rec))
        except ProtocolError:
            continue
        if env["body"].get("pub") == pub:
            return True
    return False
