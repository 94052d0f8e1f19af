"""Sealed objects: canonical JSON plus an Ed25519 `sig` field.

The signed message is domain-separated and pre-hashed with the native SHA-256, so the pure
SHA-512 inside Ed25519 only ever hashes a few dozen bytes on a device:

    msg = b"gridlink/v1/" + domain + b"\\n" + SHA-256(canonical JSON without "sig")

Domains: b"evt" (device envelopes), b"state" (births, wills, hub state), b"cmd" (commands),
b"rcpt" (hub receipts).
"""

import hashlib

from protocol import canonical, crypto
from protocol.errors import MalformedError, OversizeError, SignatureError
from protocol.limits import MAX_COMMAND_BYTES

_HEXDIGITS = "0123456789abcdef"


def is_hex(s, n):
    # every character is a lower-case hex digit iff stripping those leaves nothing
    return type(s) is str and len(s) == n and not s.strip(_HEXDIGITS)


def signing_message(obj, domain):
    """The bytes an object's signature covers (every field but `sig`)."""
    unsigned = {}
    for k in obj:
        if k != "sig":
            unsigned[k] = obj[k]
    return b"gridlink/v1/" + domain + b"\n" + hashlib.sha256(canonical.dumps(unsigned)).digest()


def seal(obj, seed, domain):
    """Return the canonical bytes of `obj` with its signature added."""
    signed = dict(obj)
    signed.pop("sig", None)
    signed["sig"] = crypto.sign(seed, signing_message(signed, domain)).hex()
    return canonical.dumps(signed)


def parse(data, max_bytes=MAX_COMMAND_BYTES):
    """Size check, canonical parse, and a well-formed `sig`; no signature check."""
    if len(data) > max_bytes:
        raise OversizeError("message of %d bytes exceeds %d" % (len(data), max_bytes))
    obj = canonical.loads_canonical(data)
    if type(obj) is not dict:
        raise MalformedError("message is not a JSON object")
    if not is_hex(obj.get("sig"), 128):
        raise MalformedError("sig must be 128 lower-case hex characters")
    return obj


def check(obj, public, domain):
    """Raise SignatureError unless `obj["sig"]` is `public`'s signature over `obj`."""
    sig = bytes.fromhex(obj["sig"])
    if not crypto.verify(public, signing_message(obj, domain), sig):
        raise SignatureError("signature does not verify")
