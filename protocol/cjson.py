"""CPython-only codec: canonical JSON through the stdlib's C encoder and decoder. Not for
MicroPython.

The bytes and the errors are those of `protocol.canonical`'s pure encoder (every vector, and
hypothesis, in tests/protocol/test_cjson.py). What the C encoder would do differently is sent to
the pure one instead, which then raises as it always does:
- `dumps`: anything but dict / list / tuple / str / int / bool / None (floats, enums, other
  types), a key that is not a str, or nesting deeper than canonical allows (a walk of the
  value's types first, no encoding);
- `loads_canonical`: more than 16 brackets in the bytes (deep nesting is possible; brackets in
  strings count too, so this only ever sends more to the pure path) and a `str` argument.
  Floats and NaN / Infinity are refused while decoding, as the pure path refuses them when it
  re-encodes: both raise `MalformedError`.

    from protocol import canonical, cjson
    canonical.set_codec(cjson.CJsonCodec())   # the hub does this in hub.ingest.runner.use_openssl
"""

import json

from protocol import canonical
from protocol.errors import MalformedError, NonCanonicalError

MAX_DEPTH = 16  # canonical._MAX_DEPTH: a value nested in more containers is refused

_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), check_circular=False
).encode


def _no_float(_text):
    raise MalformedError("floats are not allowed in canonical JSON (use integers)")


_decode = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float).decode


def _plain(obj, depth):
    """True when the C encoder gives the canonical bytes of `obj` (a value at `depth`)."""
    if depth > MAX_DEPTH:
        return False
    t = type(obj)
    if t is dict:
        for k, v in obj.items():
            if type(k) is not str or not _plain(v, depth + 1):
                return False
        return True
    if t is list or t is tuple:
        for v in obj:
            if not _plain(v, depth + 1):
                return False
        return True
    return t is str or t is int or t is bool or obj is None


class CJsonCodec:
    name = "json"

    def dumps(self, obj):
        if not _plain(obj, 0):
            return canonical.pure_dumps(obj)  # raises, as canonical does
        return _encode(obj).encode("utf-8")

    def loads_canonical(self, data):
        if isinstance(data, str):
            return canonical.pure_loads_canonical(data)
        raw = bytes(data)
        if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
            return canonical.pure_loads_canonical(raw)
        try:
            obj = _decode(raw.decode("utf-8"))
        except MalformedError:
            raise
        except (ValueError, UnicodeError, RecursionError) as e:
            raise MalformedError("invalid JSON: %s" % (e,)) from None
        try:
            again = _encode(obj).encode("utf-8")
        except (ValueError, UnicodeError) as e:  # e.g. an escaped lone surrogate
            raise MalformedError("cannot re-encode: %s" % (e,)) from None
        if again != raw:
            raise NonCanonicalError("message is not in canonical JSON form")
        return obj
