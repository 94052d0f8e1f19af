"""Canonical JSON: sorted keys, no whitespace, UTF-8, fixed string escapes, no floats.

The same encoder runs on both interpreters, so both produce identical bytes. A receiver
re-encodes what it parsed and rejects the message when the bytes differ.

`set_codec(codec)` installs a faster codec with the same bytes and the same errors (the hub's
`protocol.cjson`, CPython's C encoder); devices keep the pure one below.
"""

import json

from protocol.errors import MalformedError, NonCanonicalError

try:
    _TooDeep = RecursionError
except NameError:  # MicroPython raises RuntimeError for a recursion limit
    _TooDeep = RuntimeError

_ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HEX = "0123456789abcdef"
_MAX_DEPTH = 16
_codec = None


def set_codec(codec):
    """Install `codec` (its dumps / loads_canonical replace the pure ones); None: pure."""
    global _codec
    _codec = codec


def get_codec():
    return _codec


class _Out:
    # The encoder's output: its tokens joined every 64. One list of all the tokens (8 bytes a
    # pointer on a 64-bit port) needed, for a 16 KB command of short values, a 128 KB block in
    # one piece while the list grew, which a device's fragmented heap does not have (a gate's
    # list sync part was never checked: "no heap"); joined pieces need about the output's size.
    def __init__(self):
        self.parts = []
        self.cur = []

    def append(self, s):
        cur = self.cur
        cur.append(s)
        if len(cur) >= 64:
            self.parts.append("".join(cur))
            del cur[:]

    def value(self):
        parts = self.parts
        parts.append("".join(self.cur))
        self.cur = None
        return "".join(parts) if len(parts) > 1 else parts[0]


def _needs_escape(s):
    for ch in s:
        if ch == '"' or ch == "\\" or ord(ch) < 0x20:
            return True
    return False


def _escape(s):
    if not _needs_escape(s):
        return s
    out = _Out()  # one char a token: a long text would need a pointer per char in one piece
    for ch in s:
        e = _ESC.get(ch)
        if e is not None:
            out.append(e)
        elif ord(ch) < 0x20:
            c = ord(ch)
            out.append("\\u00" + _HEX[c >> 4] + _HEX[c & 15])
        else:
            out.append(ch)
    return out.value()


def _encode(obj, out, depth):
    if depth > _MAX_DEPTH:
        raise MalformedError("nesting deeper than %d" % _MAX_DEPTH)
    t = type(obj)
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif t is int:
        out.append(str(obj))
    elif t is str:
        out.append('"')
        out.append(_escape(obj))
        out.append('"')
    elif t is dict:
        out.append("{")
        first = True
        for k in sorted(obj):
            if type(k) is not str:
                raise MalformedError("object key is not a string: %r" % (k,))
            if not first:
                out.append(",")
            first = False
            out.append('"')
            out.append(_escape(k))
            out.append('":')
            _encode(obj[k], out, depth + 1)
        out.append("}")
    elif t is list or t is tuple:
        out.append("[")
        for i, v in enumerate(obj):
            if i:
                out.append(",")
            _encode(v, out, depth + 1)
        out.append("]")
    elif t is float:
        raise MalformedError("floats are not allowed in canonical JSON (use integers)")
    else:
        raise MalformedError("cannot encode value of type %s" % t.__name__)


def dumps(obj):
    """Encode `obj` as canonical JSON bytes."""
    if _codec is not None:
        return _codec.dumps(obj)
    return pure_dumps(obj)


def pure_dumps(obj):
    """The pure encoder (what every codec must equal)."""
    out = _Out()
    _encode(obj, out, 0)
    return out.value().encode("utf-8")


def loads(data):
    """Parse JSON bytes; any decoding, syntax or nesting problem is a MalformedError."""
    try:
        if not isinstance(data, str):
            data = bytes(data).decode("utf-8")
        return json.loads(data)
    except (ValueError, UnicodeError, _TooDeep) as e:
        raise MalformedError("invalid JSON: %s" % (e,))


def loads_canonical(data):
    """Parse JSON bytes and require that they are exactly the canonical encoding."""
    if _codec is not None:
        return _codec.loads_canonical(data)
    return pure_loads_canonical(data)


def pure_loads_canonical(data):
    """The pure parser (what every codec must equal)."""
    obj = loads(data)
    try:
        again = pure_dumps(obj)
    except MalformedError:
        raise
    except (ValueError, UnicodeError) as e:  # e.g. an escaped lone surrogate
        raise MalformedError("cannot re-encode: %s" % (e,))
    if again != bytes(data):
        raise NonCanonicalError("message is not in canonical JSON form")
    return obj
