"""Ed25519 (RFC 8032, section 5.1) in pure Python for CPython and MicroPython.

Extended twisted-Edwards coordinates (a = -1). On MicroPython every field element is a heap
object, so the cost of a signature is its count of big-int temporaries (each collection of
a device's heap comes back in the signature's time), and the code keeps that count down:
- scalar multiplication by a signed 3-bit window over a table of 1..4 x the point, made
  for the call (3 additions) and dropped after it: 258 doublings and ~75 additions where
  double-and-add made 255 doublings and ~128 additions, and nothing resident;
- doublings followed by a doubling skip the T coordinate (only an addition reads it);
- verify computes [s]B + [k](-A) in one pass (Straus: the doublings shared, a table for
  each point) and compares it with R, the same group equation as [s]B = R + [k]A.
Not constant time: real boards should plug a native module in through
`protocol.crypto.set_backend` (see docs/protocol.md).
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


_D2 = 2 * D % P


def _double(p, with_t=True):
    x1, y1, z1, _ = p
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    e = x1 + y1
    e = h - e * e
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P if with_t else 0)


def _addc(p, yp, ym, z2, t2d):
    # p + q for q given as (Y+X, Y-X, 2Z, 2dT) ("cached" form: 8 products); -q is
    # (Y-X, Y+X, 2Z, -2dT)
    x1, y1, z1, t1 = p
    a = (y1 - x1) * ym % P
    b = (y1 + x1) * yp % P
    c = t1 * t2d % P
    d = z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


_WIN = 3  # window bits: a table of 4 points (~1 KB while a multiplication runs)
_NDIG = 87  # digits of a scalar below 2**256: 86 x 3 bits and a carry


def _digits(s):
    """`s` (0 <= s < 2**256) as signed base-8 digits in -4..3 (the last 0 or 1), least
    significant first, as a bytearray of digit + 4."""
    out = bytearray(_NDIG)
    carry = 0
    for i in range(_NDIG):
        v = (s & 7) + carry
        s >>= 3
        if v >= 4:
            v -= 8
            carry = 1
        else:
            carry = 0
        out[i] = v + 4
    return out


def _cached(p):
    """1..4 x p in cached form: the window's table, made per multiplication (3 additions,
    ~1 KB while it runs) and never kept, so the module holds no table in a device's heap.
    (A 4-bit window saves ~15 of ~330 point operations for twice the table, which a 192K
    handheld verifying a message over TLS has not got.)"""
    x, y, z, t = p
    yp, ym, z2, t2d = (y + x) % P, (y - x) % P, 2 * z % P, t * _D2 % P
    tab = [(yp, ym, z2, t2d)]
    q = p
    for _ in range(3):
        q = _addc(q, yp, ym, z2, t2d)
        x, y, z, t = q
        tab.append(((y + x) % P, (y - x) % P, 2 * z % P, t * _D2 % P))
    return tab


def _window(da, ta, db, tb):
    """[da]A + [db]B for digit strings da, db (from _digits) over tables ta, tb (from
    _cached); db may be None. Most significant digit first, 3 doublings a digit."""
    q = IDENTITY
    for i in range(_NDIG - 1, -1, -1):
        if i < _NDIG - 1:
            q = _double(q, False)
            q = _double(q, False)
            q = _double(q)
        v = da[i] - 4
        if v > 0:
            yp, ym, z2, t2d = ta[v - 1]
            q = _addc(q, yp, ym, z2, t2d)
        elif v < 0:
            yp, ym, z2, t2d = ta[-v - 1]
            q = _addc(q, ym, yp, z2, P - t2d)
        if db is not None:
            v = db[i] - 4
            if v > 0:
                yp, ym, z2, t2d = tb[v - 1]
                q = _addc(q, yp, ym, z2, t2d)
            elif v < 0:
                yp, ym, z2, t2d = tb[-v - 1]
                q = _addc(q, ym, yp, z2, P - t2d)
    return q


def _mul_base(s):
    return _window(_digits(s), _cached(BASE), None, None)


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
    # [s]B = R + [k]A  <=>  [s]B + [k](-A) = R, both multiplications in one pass
    x, y, z, t = a
    neg_a = (P - x, y, z, P - t)
    q = _window(_digits(k), _cached(neg_a), _digits(s), _cached(BASE))
    return _equal(q, r)
