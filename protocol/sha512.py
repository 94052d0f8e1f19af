"""SHA-512 (FIPS 180-4) in pure Python, for MicroPython ports whose hashlib lacks it.

Only used when `hashlib.sha512` is missing (the unix port, most boards without a native
module); Ed25519 hashes short inputs (the signed message is a SHA-256 pre-hash, sealed.py).

Every 64-bit word is held as two 32-bit halves. On MicroPython an int above the small-int
range (2**62 on a 64-bit port, 2**30 on a 32-bit one) is a heap object, and a 64-bit
round made ~170 KB of them per 128-byte block, so a signature made several MB of garbage
and a collection of the whole heap every few hundred KB. With halves, and every shift
masked first so no intermediate passes 2**35, a block allocates nothing on a 64-bit port
(tests/protocol/test_sha512.py counts it under micropython) and about half as many, smaller,
objects on a 32-bit one.
"""

import array
import struct

_K = (
    b"\x42\x8a\x2f\x98\xd7\x28\xae\x22\x71\x37\x44\x91\x23\xef\x65\xcd"
    b"\xb5\xc0\xfb\xcf\xec\x4d\x3b\x2f\xe9\xb5\xdb\xa5\x81\x89\xdb\xbc"
    b"\x39\x56\xc2\x5b\xf3\x48\xb5\x38\x59\xf1\x11\xf1\xb6\x05\xd0\x19"
    b"\x92\x3f\x82\xa4\xaf\x19\x4f\x9b\xab\x1c\x5e\xd5\xda\x6d\x81\x18"
    b"\xd8\x07\xaa\x98\xa3\x03\x02\x42\x12\x83\x5b\x01\x45\x70\x6f\xbe"
    b"\x24\x31\x85\xbe\x4e\xe4\xb2\x8c\x55\x0c\x7d\xc3\xd5\xff\xb4\xe2"
    b"\x72\xbe\x5d\x74\xf2\x7b\x89\x6f\x80\xde\xb1\xfe\x3b\x16\x96\xb1"
    b"\x9b\xdc\x06\xa7\x25\xc7\x12\x35\xc1\x9b\xf1\x74\xcf\x69\x26\x94"
    b"\xe4\x9b\x69\xc1\x9e\xf1\x4a\xd2\xef\xbe\x47\x86\x38\x4f\x25\xe3"
    b"\x0f\xc1\x9d\xc6\x8b\x8c\xd5\xb5\x24\x0c\xa1\xcc\x77\xac\x9c\x65"
    b"\x2d\xe9\x2c\x6f\x59\x2b\x02\x75\x4a\x74\x84\xaa\x6e\xa6\xe4\x83"
    b"\x5c\xb0\xa9\xdc\xbd\x41\xfb\xd4\x76\xf9\x88\xda\x83\x11\x53\xb5"
    b"\x98\x3e\x51\x52\xee\x66\xdf\xab\xa8\x31\xc6\x6d\x2d\xb4\x32\x10"
    b"\xb0\x03\x27\xc8\x98\xfb\x21\x3f\xbf\x59\x7f\xc7\xbe\xef\x0e\xe4"
    b"\xc6\xe0\x0b\xf3\x3d\xa8\x8f\xc2\xd5\xa7\x91\x47\x93\x0a\xa7\x25"
    b"\x06\xca\x63\x51\xe0\x03\x82\x6f\x14\x29\x29\x67\x0a\x0e\x6e\x70"
    b"\x27\xb7\x0a\x85\x46\xd2\x2f\xfc\x2e\x1b\x21\x38\x5c\x26\xc9\x26"
    b"\x4d\x2c\x6d\xfc\x5a\xc4\x2a\xed\x53\x38\x0d\x13\x9d\x95\xb3\xdf"
    b"\x65\x0a\x73\x54\x8b\xaf\x63\xde\x76\x6a\x0a\xbb\x3c\x77\xb2\xa8"
    b"\x81\xc2\xc9\x2e\x47\xed\xae\xe6\x92\x72\x2c\x85\x14\x82\x35\x3b"
    b"\xa2\xbf\xe8\xa1\x4c\xf1\x03\x64\xa8\x1a\x66\x4b\xbc\x42\x30\x01"
    b"\xc2\x4b\x8b\x70\xd0\xf8\x97\x91\xc7\x6c\x51\xa3\x06\x54\xbe\x30"
    b"\xd1\x92\xe8\x19\xd6\xef\x52\x18\xd6\x99\x06\x24\x55\x65\xa9\x10"
    b"\xf4\x0e\x35\x85\x57\x71\x20\x2a\x10\x6a\xa0\x70\x32\xbb\xd1\xb8"
    b"\x19\xa4\xc1\x16\xb8\xd2\xd0\xc8\x1e\x37\x6c\x08\x51\x41\xab\x53"
    b"\x27\x48\x77\x4c\xdf\x8e\xeb\x99\x34\xb0\xbc\xb5\xe1\x9b\x48\xa8"
    b"\x39\x1c\x0c\xb3\xc5\xc9\x5a\x63\x4e\xd8\xaa\x4a\xe3\x41\x8a\xcb"
    b"\x5b\x9c\xca\x4f\x77\x63\xe3\x73\x68\x2e\x6f\xf3\xd6\xb2\xb8\xa3"
    b"\x74\x8f\x82\xee\x5d\xef\xb2\xfc\x78\xa5\x63\x6f\x43\x17\x2f\x60"
    b"\x84\xc8\x78\x14\xa1\xf0\xab\x72\x8c\xc7\x02\x08\x1a\x64\x39\xec"
    b"\x90\xbe\xff\xfa\x23\x63\x1e\x28\xa4\x50\x6c\xeb\xde\x82\xbd\xe9"
    b"\xbe\xf9\xa3\xf7\xb2\xc6\x79\x15\xc6\x71\x78\xf2\xe3\x72\x53\x2b"
    b"\xca\x27\x3e\xce\xea\x26\x61\x9c\xd1\x86\xb8\xc7\x21\xc0\xc2\x07"
    b"\xea\xda\x7d\xd6\xcd\xe0\xeb\x1e\xf5\x7d\x4f\x7f\xee\x6e\xd1\x78"
    b"\x06\xf0\x67\xaa\x72\x17\x6f\xba\x0a\x63\x7d\xc5\xa2\xc8\x98\xa6"
    b"\x11\x3f\x98\x04\xbe\xf9\x0d\xae\x1b\x71\x0b\x35\x13\x1c\x47\x1b"
    b"\x28\xdb\x77\xf5\x23\x04\x7d\x84\x32\xca\xab\x7b\x40\xc7\x24\x93"
    b"\x3c\x9e\xbe\x0a\x15\xc9\xbe\xbc\x43\x1d\x67\xc4\x9c\x10\x0d\x4c"
    b"\x4c\xc5\xd4\xbe\xcb\x3e\x42\xb6\x59\x7f\x29\x9c\xfc\x65\x7e\x2a"
    b"\x5f\xcb\x6f\xab\x3a\xd6\xfa\xec\x6c\x44\x19\x8c\x4a\x47\x58\x17"
)

_IV = (
    b"\x6a\x09\xe6\x67\xf3\xbc\xc9\x08\xbb\x67\xae\x85\x84\xca\xa7\x3b"
    b"\x3c\x6e\xf3\x72\xfe\x94\xf8\x2b\xa5\x4f\xf5\x3a\x5f\x1d\x36\xf1"
    b"\x51\x0e\x52\x7f\xad\xe6\x82\xd1\x9b\x05\x68\x8c\x2b\x3e\x6c\x1f"
    b"\x1f\x83\xd9\xab\xfb\x41\xbd\x6b\x5b\xe0\xcd\x19\x13\x7e\x21\x79"
)


_M32 = 0xFFFFFFFF
# the schedule: 80 words as 160 halves (hi, lo), one 640-byte array reused by every block
_W = array.array("I", bytes(640))
def _fold(hh, i, hi, lo):
    # hh[i:i+2] += (hi, lo) mod 2**64
    lo += hh[i + 1]
    hh[i] = (hh[i] + hi + (lo >> 32)) & _M32
    hh[i + 1] = lo & _M32


class sha512:
    digest_size = 64
    block_size = 128

    def __init__(self, data=b""):
        self._h = list(struct.unpack(">16I", _IV))
        self._buf = b""
        self._len = 0
        if data:
            self.update(data)

    def update(self, data):
        data = bytes(data)
        self._len += len(data)
        buf = self._buf
        if buf:
            take = 128 - len(buf)
            buf += data[:take]
            if len(buf) < 128:
                self._buf = buf
                return
            self._block(buf, 0)
            data = data[take:]
        n = len(data) // 128 * 128
        for i in range(0, n, 128):
            self._block(data, i)
        self._buf = data[n:]

    def _block(self, block, off):
        # Hand-inlined rotations of (hi, lo) pairs: rotr by n < 32 is
        #   hi' = hi >> n | (lo & (2**n - 1)) << (32 - n), lo' likewise with hi and lo swapped;
        # by n >= 32 the halves swap first. Sums are reduced once, after the carry.
        w = _W
        k = _K
        M = _M32
        o = off
        for t in range(32):  # big-endian words from bytes: no tuple per word
            w[t] = (block[o] << 24) | (block[o + 1] << 16) | (block[o + 2] << 8) | block[o + 3]
            o += 4
        for t in range(32, 160, 2):
            xh = w[t - 30]  # w[t-15]
            xl = w[t - 29]
            # s0 = rotr1 ^ rotr8 ^ shr7
            s0h = ((xh >> 1) | ((xl & 1) << 31)) ^ ((xh >> 8) | ((xl & 0xFF) << 24)) ^ (xh >> 7)
            s0l = (
                ((xl >> 1) | ((xh & 1) << 31))
                ^ ((xl >> 8) | ((xh & 0xFF) << 24))
                ^ ((xl >> 7) | ((xh & 0x7F) << 25))
            )
            yh = w[t - 4]  # w[t-2]
            yl = w[t - 3]
            # s1 = rotr19 ^ rotr61 ^ shr6 (rotr61: swap, rotr29)
            s1h = (
                ((yh >> 19) | ((yl & 0x7FFFF) << 13))
                ^ ((yl >> 29) | ((yh & 0x1FFFFFFF) << 3))
                ^ (yh >> 6)
            )
            s1l = (
                ((yl >> 19) | ((yh & 0x7FFFF) << 13))
                ^ ((yh >> 29) | ((yl & 0x1FFFFFFF) << 3))
                ^ ((yl >> 6) | ((yh & 0x3F) << 26))
            )
            lo = w[t - 31] + s0l + w[t - 13] + s1l  # w[t-16], w[t-7]
            w[t + 1] = lo & M
            w[t] = (w[t - 32] + s0h + w[t - 14] + s1h + (lo >> 32)) & M
        hh = self._h
        ah, al, bh, bl, ch, cl, dh, dl, eh, el, fh, fl, gh, gl, h_h, h_l = hh
        for t in range(0, 160, 2):
            # S1 = rotr14 ^ rotr18 ^ rotr41 (rotr41: swap, rotr9)
            s1h = (
                ((eh >> 14) | ((el & 0x3FFF) << 18))
                ^ ((eh >> 18) | ((el & 0x3FFFF) << 14))
                ^ ((el >> 9) | ((eh & 0x1FF) << 23))
            )
            s1l = (
                ((el >> 14) | ((eh & 0x3FFF) << 18))
                ^ ((el >> 18) | ((eh & 0x3FFFF) << 14))
                ^ ((eh >> 9) | ((el & 0x1FF) << 23))
            )
            # ch = (e & f) ^ (~e & g), with ~e as M ^ e (no negative ints)
            o = t << 2  # the round's constant, two big-endian words read out of _K
            kh = (k[o] << 24) | (k[o + 1] << 16) | (k[o + 2] << 8) | k[o + 3]
            kl = (k[o + 4] << 24) | (k[o + 5] << 16) | (k[o + 6] << 8) | k[o + 7]
            lo = h_l + s1l + ((el & fl) ^ ((M ^ el) & gl)) + kl + w[t + 1]
            t1h = h_h + s1h + ((eh & fh) ^ ((M ^ eh) & gh)) + kh + w[t] + (lo >> 32)
            t1l = lo & M
            # S0 = rotr28 ^ rotr34 ^ rotr39 (rotr34: swap, rotr2; rotr39: swap, rotr7)
            s0h = (
                ((ah >> 28) | ((al & 0xFFFFFFF) << 4))
                ^ ((al >> 2) | ((ah & 3) << 30))
                ^ ((al >> 7) | ((ah & 0x7F) << 25))
            )
            s0l = (
                ((al >> 28) | ((ah & 0xFFFFFFF) << 4))
                ^ ((ah >> 2) | ((al & 3) << 30))
                ^ ((ah >> 7) | ((al & 0x7F) << 25))
            )
            lo = s0l + ((al & bl) ^ (al & cl) ^ (bl & cl))
            t2h = s0h + ((ah & bh) ^ (ah & ch) ^ (bh & ch)) + (lo >> 32)
            t2l = lo & M
            h_h, h_l = gh, gl
            gh, gl = fh, fl
            fh, fl = eh, el
            lo = dl + t1l
            eh = (dh + t1h + (lo >> 32)) & M
            el = lo & M
            dh, dl = ch, cl
            ch, cl = bh, bl
            bh, bl = ah, al
            lo = t1l + t2l
            ah = (t1h + t2h + (lo >> 32)) & M
            al = lo & M
        _fold(hh, 0, ah, al)
        _fold(hh, 2, bh, bl)
        _fold(hh, 4, ch, cl)
        _fold(hh, 6, dh, dl)
        _fold(hh, 8, eh, el)
        _fold(hh, 10, fh, fl)
        _fold(hh, 12, gh, gl)
        _fold(hh, 14, h_h, h_l)

    def digest(self):
        saved_h, saved_buf, saved_len = list(self._h), self._buf, self._len
        pad = b"\x80" + b"\x00" * ((111 - self._len) % 128) + struct.pack(">QQ", 0, self._len * 8)
        self.update(pad)
        out = struct.pack(">16I", *self._h)
        for i in range(160):  # the schedule would otherwise keep the last block's words
            _W[i] = 0
        self._h, self._buf, self._len = saved_h, saved_buf, saved_len
        return out
