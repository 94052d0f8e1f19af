"""Ed25519 (RFC 8032, section 5.1) in pure Python for CPython and MicroPython.

Extended twisted-Edwards coordinates and plain double-and-add: no precomputed tables, so a
device with a small heap pays a few kilobytes of temporaries only. Not constant time: real
boards should plug a native module in through `protocol.crypto.set_backend` (see docs/protocol.md).
"""

try:
    from hashlib import sha512 as _sha512
except ImportError:
    from protocol.sha512 import sha512 as _sha512

P = (1 << 255) - 19
L = (1 << 252) + 27742317777372353535851937790883648493
D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
BASE = (_BX, _BY, 1, _BX * _BY % P)
IDENTITY = (0, 1, 1, 0)


def _h(data):
    return _sha512(data).digest()


def _add(p, q):
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _double(p):
    x1, y1, z1, _ = p
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1)
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, p):
    q = IDENTITY
    while s:
        if s & 1:
            q = _add(q, p)
        p = _double(p)
        s >>= 1
    return q


def _mul_base(s):
    return _mul(s, BASE)


def _equal(p, q):
    x1, y1, z1, _ = p
    x2, y2, z2, _ = q
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def _encode(p):
    x, y, z, _ = p
    zi = pow(z, P - 2, P)
    x = x * zi % P
    y = y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def _decode(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def _expand(seed):
    if len(seed) != 32:
        raise ValueError("Ed25519 seed must be 32 bytes")
    h = _h(bytes(seed))
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed):
    a, _ = _expand(seed)
    return _encode(_mul_base(a))


def sign(seed, msg, public=None):
    a, prefix = _expand(seed)
    if public is None:
        public = _encode(_mul_base(a))
    msg = bytes(msg)
    r = int.from_bytes(_h(prefix + msg), "little") % L
    rs = _encode(_mul_base(r))
    k = int.from_bytes(_h(rs + public + msg), "little") % L
    s = (r + k * a) % L
    return rs + s.to_bytes(32, "little")


def verify(public, msg, sig):
    """True when `sig` is a valid signature of `msg` by `public`; never raises on bad input."""
    if len(public) != 32 or len(sig) != 64:
        return False
    a = _decode(bytes(public))
    if a is None:
        return False
    rs = bytes(sig[:32])
    r = _decode(rs)
    if r is None:
        return False
    s = int.from_bytes(bytes(sig[32:]), "little")
    if s >= L:
        return False
    k = int.from_bytes(_h(rs + bytes(public) + bytes(msg)), "little") % L
    return _equal(_mul_base(s), _add(r, _mul(k, a)))
