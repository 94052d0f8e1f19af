"""Worker PINs: PBKDF2-HMAC-SHA256 (RFC 8018), the same bytes on the hub and on a handheld.

A worker's PIN record is ``[salt_hex, iterations, hash_hex]``: the hub makes it (random salt) and
pushes each grid's records to its handheld in a signed ``workers`` command; the handheld checks a
PIN typed at sign-in against it. Only the native SHA-256 is needed (MicroPython has no ``hmac``
or ``pbkdf2_hmac``), so this HMAC is written out: the key's inner and outer blocks are made once,
and each iteration is two SHA-256 objects and one integer XOR.
"""

import hashlib

DIGEST_BYTES = 32
SALT_BYTES = 16
ITERATIONS = 20000  # the hub's default (GRIDLINK_WORKER_PIN_ITERATIONS); a record names its own
_BLOCK = 64


def _pads(key):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def pbkdf2_sha256(password, salt, iterations, length=DIGEST_BYTES):
    """PBKDF2-HMAC-SHA256 of bytes ``password`` and ``salt``; ``length`` bytes."""
    if iterations < 1 or length < 1:
        raise ValueError("iterations and length must be positive")
    ipad, opad = _pads(password)
    sha = hashlib.sha256
    out = b""
    block = 0
    while len(out) < length:
        block += 1
        h = sha(ipad)
        h.update(salt + block.to_bytes(4, "big"))
        u = sha(opad + h.digest()).digest()
        acc = int.from_bytes(u, "big")
        for _ in range(iterations - 1):
            h = sha(ipad)
            h.update(u)
            u = sha(opad + h.digest()).digest()
            acc ^= int.from_bytes(u, "big")
        out += acc.to_bytes(DIGEST_BYTES, "big")
    return out[:length]


def pin_digest(pin, salt, iterations):
    """The hash of ``pin`` (a str) in a PIN record: PBKDF2 over its UTF-8 bytes."""
    return pbkdf2_sha256(pin.encode(), salt, iterations)


def record(pin, salt, iterations=ITERATIONS):
    """A PIN record ``[salt_hex, iterations, hash_hex]`` (the hub uses its C PBKDF2 instead)."""
    return [salt.hex(), iterations, pin_digest(pin, salt, iterations).hex()]


def check(record, pin):
    """True when ``pin`` matches ``record`` ``[salt_hex, iterations, hash_hex]``; a malformed
    record is False (never an exception: a sign-in answers yes or no)."""
    try:
        salt_hex, iterations, want = record
        salt = bytes.fromhex(salt_hex)
        if not isinstance(iterations, int) or iterations < 1 or len(want) != 2 * DIGEST_BYTES:
            return False
        got = pin_digest(pin, salt, iterations).hex()
    except (TypeError, ValueError):
        return False
    diff = 0  # every byte compared: the time does not tell how much matched
    for a, b in zip(got, want):
        diff |= ord(a) ^ ord(b)
    return diff == 0
