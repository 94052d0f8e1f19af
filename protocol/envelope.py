"""Device event envelopes: {v, dev, seq, ts, kind, body, blobs, prev, sig}, plus `hist`.

`prev` is the SHA-256 of the previous sealed envelope (a hash chain); `blobs` lists media by
SHA-256, size and MIME type, so the signature covers the media too. `hist` (optional, only
ever JSON `true`) marks an event the device captured while it was not live (link or hub
down): the hub records and files it but takes no live action on it. A live envelope has no
`hist` key at all, so there is one canonical form of each.
"""

import hashlib

from protocol import sealed, topics
from protocol.errors import BlobError, MalformedError, OversizeError, ReplayError, SkewError
from protocol.limits import (
    GENESIS,
    LIVE_WINDOW_S,
    MAX_BLOB_BYTES,
    MAX_BLOBS,
    MAX_CLOCK_SKEW_S,
    MAX_ENVELOPE_BYTES,
    MAX_MIME_LEN,
    MAX_SEQ,
    MAX_TS,
    PROTOCOL_VERSION,
)

DOMAIN = b"evt"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
FIELDS = ("blobs", "body", "dev", "kind", "prev", "seq", "sig", "ts", "v")
HIST = "hist"  # the one optional field: present only as true


def _int_in(value, lo, hi, name):
    if type(value) is not int or not lo <= value <= hi:
        raise MalformedError("%s must be an integer in %d..%d" % (name, lo, hi))


def blob_ref(sha256, size, mime):
    """One `blobs` item; validated."""
    if not sealed.is_hex(sha256, 64):
        raise MalformedError("blob sha256 must be 64 lower-case hex characters")
    _int_in(size, 0, MAX_BLOB_BYTES, "blob size")
    if size == 0 and sha256 != EMPTY_SHA256:
        # an empty blob has exactly one hash; anything else would mark a blob complete unseen
        raise BlobError("a blob of size 0 must have the SHA-256 of empty input")
    if type(mime) is not str or not 3 <= len(mime) <= MAX_MIME_LEN or "/" not in mime:
        raise MalformedError("blob mime must be a type/subtype string")
    return {"mime": mime, "sha256": sha256, "size": size}


def _check_fields(env, with_sig):
    keys = sorted(env)
    if HIST in env:
        if env[HIST] is not True:
            raise MalformedError("hist must be true when present (a live envelope omits it)")
        keys.remove(HIST)
    want = list(FIELDS) if with_sig else [f for f in FIELDS if f != "sig"]
    if keys != want:
        raise MalformedError("envelope fields must be exactly %s (and hist)" % ",".join(want))
    if env["v"] != PROTOCOL_VERSION or type(env["v"]) is not int:
        raise MalformedError("unsupported protocol version %r" % (env["v"],))
    topics.validate_device_id(env["dev"])
    _int_in(env["seq"], 1, MAX_SEQ, "seq")
    _int_in(env["ts"], 0, MAX_TS, "ts")
    topics.validate_kind(env["kind"])
    if type(env["body"]) is not dict:
        raise MalformedError("body must be an object")
    blobs = env["blobs"]
    if type(blobs) is not list or len(blobs) > MAX_BLOBS:
        raise MalformedError("blobs must be a list of at most %d items" % MAX_BLOBS)
    for b in blobs:
        if type(b) is not dict or sorted(b) != ["mime", "sha256", "size"]:
            raise MalformedError("each blob must be {sha256, size, mime}")
        blob_ref(b["sha256"], b["size"], b["mime"])
    if not sealed.is_hex(env["prev"], 64):
        raise MalformedError("prev must be 64 lower-case hex characters")


def build(dev, seq, ts, kind, body, blobs=(), prev=GENESIS, hist=False):
    """A validated, unsigned envelope dict; `hist=True` marks it historical."""
    if hist is not True and hist is not False:
        raise MalformedError("hist must be True or False")
    env = {
        "v": PROTOCOL_VERSION,
        "dev": dev,
        "seq": seq,
        "ts": ts,
        "kind": kind,
        "body": body,
        "blobs": list(blobs),
        "prev": prev,
    }
    if hist:
        env[HIST] = True
    _check_fields(env, False)
    return env


def seal(env, seed):
    """Canonical bytes of `env` signed with the device seed; checks the size limit."""
    data = sealed.seal(env, seed, DOMAIN)
    if len(data) > MAX_ENVELOPE_BYTES:
        raise OversizeError(
            "sealed envelope is %d bytes, limit %d" % (len(data), MAX_ENVELOPE_BYTES)
        )
    return data


def parse(data):
    """Parse and validate received bytes (size, canonical form, schema); no signature check."""
    env = sealed.parse(data, MAX_ENVELOPE_BYTES)
    _check_fields(env, True)
    return env


def verify(env, public):
    sealed.check(env, public, DOMAIN)


def open(data, public):
    """parse() then verify(): the envelope dict, or an exception with a reason."""
    env = parse(data)
    verify(env, public)
    return env


def digest(data):
    """SHA-256 hex of the sealed bytes: what the next envelope carries as `prev`."""
    return hashlib.sha256(data).digest().hex()


def check_skew(env, now):
    if env["ts"] > now + MAX_CLOCK_SKEW_S:
        raise SkewError("ts %d is more than %d s ahead of %d" % (env["ts"], MAX_CLOCK_SKEW_S, now))


def is_historical(env, now):
    """True when the device marked the envelope historical or it arrived more than
    LIVE_WINDOW_S after its capture time."""
    return env.get(HIST) is True or now - env["ts"] > LIVE_WINDOW_S


def follows(env, last_seq):
    """ReplayError unless `env` is newer than the last stored seq of its device."""
    if env["seq"] <= last_seq:
        raise ReplayError("seq %d <= last stored %d" % (env["seq"], last_seq))
