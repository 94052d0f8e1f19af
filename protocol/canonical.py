"""Canonical JSON: sorted keys, no whitespace, UTF-8, fixed string escapes, no floats.

The same encoder runs on both interpreters, so both produce identical bytes. A receiver
re-encodes what it parsed and rejects the message when the bytes differ.
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


def _needs_escape(s):
    for ch in s:
        if ch == '"' or ch == "\\" or ord(ch) < 0x20:
            return True
    return False


def _escape(s):
    if not _needs_escape(s):
        return s
    out = []
    for ch in s:
        e = _ESC.get(ch)
        if e is not None:
            out.append(e)
        elif ord(ch) < 0x20:
            c = ord(ch)
            out.append("\\u00" + _HEX[c >> 4] + _HEX[c & 15])
        else:
            out.append(ch)
    return "".join(out)


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


class _Sink:
    """Takes the encoder's fragments a batch at a time (`write(bytes)` for each batch), so a
    large message is checked or hashed without its whole fragment list in memory: a 16 KiB
    command is thousands of fragments, whose list alone wants a 32 KiB block on MicroPython,
    more than a gate's fragmented heap has in one piece."""

    def __init__(self, write, batch=64):
        self.write = write
        self.batch = batch
        self.parts = []

    def append(self, s):
        self.parts.append(s)
        if len(self.parts) >= self.batch:
            self.flush()

    def flush(self):
        if self.parts:
            data = "".join(self.parts).encode("utf-8")
            self.parts = []
            self.write(data)


def dumps(obj):
    """Encode `obj` as canonical JSON bytes."""
    out = []
    _encode(obj, out, 0)
    return "".join(out).encode("utf-8")


def encode_into(obj, write):
    """Encode `obj` as canonical JSON, handing the bytes to `write` in pieces (e.g. a hash's
    update) instead of building them: memory stays bounded whatever the size."""
    sink = _Sink(write)
    _encode(obj, sink, 0)
    sink.flush()


class _Compare:
    def __init__(self, data):
        self.data = data
        self.pos = 0
        self.same = True

    def write(self, b):
        n = len(b)
        if self.same and self.data[self.pos:self.pos + n] != b:
            self.same = False
        self.pos += n


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
    obj = loads(data)
    cmp = _Compare(data if isinstance(data, bytes) else bytes(data))
    try:
        encode_into(obj, cmp.write)  # compared as it is encoded: no second copy of the message
    except MalformedError:
        raise
    except (ValueError, UnicodeError) as e:  # e.g. an escaped lone surrogate
        raise MalformedError("cannot re-encode: %s" % (e,))
    if not cmp.same or cmp.pos != len(cmp.data):
        raise NonCanonicalError("message is not in canonical JSON form")
    return obj
