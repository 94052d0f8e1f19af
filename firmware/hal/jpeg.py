"""Streamed writer of a real, decodable baseline JPEG of an exact byte size.

The image is 8-bit greyscale noise: every 8x8 block codes DC difference 0 and 62 AC
coefficients of +-1 followed by EOB, with a tiny custom Huffman table, so one block is
exactly 16 bytes (128 bits, byte aligned, never 0xFF so no byte stuffing). Any size from
MIN_SIZE up is hit exactly with a COM segment holding the remainder. Only a 4 KiB pattern
buffer is held in RAM; the file is streamed.
"""

import struct

MIN_SIZE = 1024
_BLOCK = 16  # bytes of entropy-coded data per 8x8 block
_PATTERN_BLOCKS = 256  # 4 KiB pattern buffer


def _header(width, height, comment_len):
    out = bytearray(b"\xff\xd8")  # SOI
    # APP0 JFIF 1.01, no thumbnail
    out += b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    # DQT: table 0, 8-bit, all 8
    out += b"\xff\xdb\x00\x43\x00" + b"\x08" * 64
    # SOF0: 8-bit precision, height, width, 1 component (id 1, 1x1, table 0)
    out += b"\xff\xc0\x00\x0b\x08" + struct.pack(">HH", height, width) + b"\x01\x01\x11\x00"
    # DHT DC 0: category 0 -> "0", category 1 -> "10"
    out += b"\xff\xc4\x00\x15\x00" + b"\x01\x01" + b"\x00" * 14 + b"\x00\x01"
    # DHT AC 0: 0x01 -> "0", 0x02 -> "10", EOB 0x00 -> "110"
    out += b"\xff\xc4\x00\x16\x10" + b"\x01\x01\x01" + b"\x00" * 13 + b"\x01\x02\x00"
    if comment_len:
        out += b"\xff\xfe" + struct.pack(">H", comment_len - 2)
    return out


def _header_len(comment):
    return len(_header(8, 8, 0)) + comment + 10  # + SOS segment (10 bytes)


PATTERN_BYTES = _PATTERN_BLOCKS * _BLOCK


def _pattern(seed, buf=None):
    """_PATTERN_BLOCKS coded blocks of random +-1 coefficients (LCG bits), into `buf`.

    A block's 128 bits are "0" (DC), 62 x ("0", sign), "110" (EOB): MSB first, the sign bits
    sit at the even positions 2, 4, ... 124. So byte 0 takes its signs under mask 0x2A,
    bytes 1..14 under 0xAA, byte 15 under 0xA8 with the EOB's 0x06: one LCG step a byte,
    small ints only (a 128-bit int built bit by bit made ~250 ms of big-int garbage a shot
    on the unix port, the gate's capture time in the simulator)."""
    if buf is None:
        buf = bytearray(PATTERN_BYTES)
    x = (seed * 2654435761 + 1) & 0xFFFFFFFF
    o = 0
    for _ in range(_PATTERN_BLOCKS):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        buf[o] = (x >> 16) & 0x2A
        for i in range(1, _BLOCK - 1):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            buf[o + i] = (x >> 16) & 0xAA
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        buf[o + _BLOCK - 1] = ((x >> 16) & 0xA8) | 0x06
        o += _BLOCK
    return buf


def geometry(size):
    """(width, height, comment_len) giving a file of exactly `size` bytes."""
    if size < MIN_SIZE:
        raise ValueError("jpeg size below %d" % MIN_SIZE)
    bw = 16
    while size // (_BLOCK * bw) > 8000:
        bw *= 2
    row = bw * _BLOCK
    base = _header_len(0) + 2  # headers + EOI
    rows = (size - base) // row
    rest = size - base - rows * row
    if 0 < rest < 4:  # a COM segment is at least 4 bytes: give one block row back
        rows -= 1
        rest += row
    while rows < 1:
        bw //= 2
        if bw < 1:
            raise ValueError("jpeg size too small")
        row = bw * _BLOCK
        rows = (size - base) // row
        rest = size - base - rows * row
        if 0 < rest < 4:
            rows -= 1
            rest += row
    return bw * 8, rows * 8, rest


def write(f, size, seed=1, buf=None):
    """Write a JPEG of exactly `size` bytes to the open binary file `f`; `buf` (PATTERN_BYTES,
    optional) is the caller's preallocated scratch buffer."""
    width, height, comment = geometry(size)
    hdr = _header(width, height, comment)
    f.write(hdr)
    pat = _pattern(seed, buf)
    mv = memoryview(pat)
    if comment:
        left = comment - 4
        while left > 0:
            n = min(left, len(pat))
            f.write(mv[:n])
            left -= n
    f.write(b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00")  # SOS: 1 comp, tables 0/0, Ss..Se
    left = (width // 8) * (height // 8) * _BLOCK
    k = 0
    n = len(pat)
    while left > 0:
        # rotate the pattern per 4 KiB so consecutive chunks differ
        off = ((k * 37) % _PATTERN_BLOCKS) * _BLOCK
        part = min(left, n - off)
        f.write(mv[off:off + part])
        left -= part
        if left > 0:
            part = min(left, off)
            if part:
                f.write(mv[:part])
                left -= part
        k += 1
    f.write(b"\xff\xd9")  # EOI
    return size
