"""Ed25519 (RFC 8032, section 5.1) in pure Python for CPython and MicroPython.

Extended twisted-Edwards coordinates (a = -1). On MicroPython every field element is a heap
object, so the cost of a signature is its count of big-int temporaries (each collection of
a device's heap comes back in the signature's time), and the code keeps that count down:
- fixed-base multiplication (signing, public keys) with a signed 4-bit window over a table
  of 1..8 x B in affine (y+x, y-x, 2dxy) form: 8 points, ~1.2 KB, built at the first use
  and kept; 252 doublings and ~60 mixed additions instead of 255 doublings and ~128 full
  additions;
- doublings followed by a doubling skip the T coordinate (only an addition reads it);
- verify computes [s]B + [k](-A) in one pass (Straus: the 252 doublings shared, a per-call
  table of 1..8 x (-A)) and compares it with R, the same group equation as [s]B = R + [k]A.
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


D2 = 2 * D % P


def _add(p, q):
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * t2 % P * D2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


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


def _madd(p, yp, ym, t2d):
    # p + q for q given as (y+x, y-x, 2dxy) with z = 1 (a "mixed" addition: 7 products);
    # -q is (y-x, y+x, -2dxy)
    x1, y1, z1, t1 = p
    a = (y1 - x1) * ym % P
    b = (y1 + x1) * yp % P
    c = t1 * t2d % P
    d = 2 * z1
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _cadd(p, yp, ym, z2, t2d):
    # p + q for q given as (Y+X, Y-X, 2Z, 2dT) (projective, 8 products)
    x1, y1, z1, t1 = p
    a = (y1 - x1) * ym % P
    b = (y1 + x1) * yp % P
    c = t1 * t2d % P
    d = z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _digits(s):
    """`s` (0 <= s < 2**256) as 65 signed base-16 digits in -8..7 (the last 0 or 1),
    least significant first, as a bytearray of digit + 8: small ints only, no big-int
    shifts."""
    b = s.to_bytes(32, "little")
    out = bytearray(65)
    carry = 0
    for i in range(64):
        v = ((b[i >> 1] >> ((i & 1) << 2)) & 15) + carry
        if v >= 8:
            v -= 16
            carry = 1
        else:
            carry = 0
        out[i] = v + 8
    out[64] = carry + 8
    return out


_BTAB = None  # 1..8 x B as (y+x, y-x, 2dxy) with z = 1, built at the first use


def _base_table():
    global _BTAB
    tab = []
    q = BASE
    for i in range(8):
        if i:
            q = _add(q, BASE)
        x, y, z, _ = q
        zi = pow(z, P - 2, P)
        x = x * zi % P
        y = y * zi % P
        tab.append(((y + x) % P, (y - x) % P, x * y % P * D2 % P))
    _BTAB = tab
    return tab


def _mul(s, p):
    """[s]p for any point p (4-bit signed window over a per-call table of 1..8 x p)."""
    tab = _cached(p)
    return _window(_digits(s), tab, None, None)


def _mul_base(s):
    return _window(None, None, _digits(s), _BTAB or _base_table())


def _cached(p):
    # 1..8 x p as (Y+X, Y-X, 2Z, 2dT)
    tab = []
    q = p
    for i in range(8):
        if i:
            q = _add(q, p)
        x, y, z, t = q
        tab.append(((y + x) % P, (y - x) % P, 2 * z % P, t * D2 % P))
    return tab


def _window(da, ta, db, tb):
    """sum of the digit strings da (over projective table ta) and db (over the base table tb,
    affine); either pair may be None. Most significant digit first, 4 doublings a digit."""
    q = None
    for i in range(64, -1, -1):
        if q is not None:
            q = _double(q, False)
            q = _double(q, False)
            q = _double(q, False)
            q = _double(q)
        if da is not None:
            v = da[i] - 8
            if v:
                e = ta[v - 1] if v > 0 else ta[-v - 1]
                if q is None:
                    q = IDENTITY
                if v > 0:
                    q = _cadd(q, e[0], e[1], e[2], e[3])
                else:
                    q = _cadd(q, e[1], e[0], e[2], P - e[3])
        if db is not None:
            v = db[i] - 8
            if v:
                e = tb[v - 1] if v > 0 else tb[-v - 1]
                if q is None:
                    q = IDENTITY
                if v > 0:
                    q = _madd(q, e[0], e[1], e[2])
                else:
                    q = _madd(q, e[1], e[0], P - e[2])
    return IDENTITY if q is None else q


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
    q = _window(_digits(k), _cached(neg_a), _digits(s), _BTAB or _base_table())
    return _equal(q, r)
