"""Streamed writer of a real WAV clip: RIFF/WAVE, PCM 16-bit mono, a tone whose loudness
changes every block (so no two consecutive chunks of the file are alike). 8 kHz x 20 s is
320,000 bytes of samples; only one 2 KiB block buffer is held in RAM."""

import math
import struct

RATE = 8000
BITS = 16
_BLOCK_SAMPLES = 1000  # 2000 bytes


def header(n_bytes, rate=RATE):
    return (
        b"RIFF"
        + struct.pack("<I", 36 + n_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, BITS)
        + b"data"
        + struct.pack("<I", n_bytes)
    )


BUF_BYTES = 2 * _BLOCK_SAMPLES


def write(f, seconds, rate=RATE, tone_hz=440, buf=None):
    """Write `seconds` of tone; returns the file size (44 + 2 * rate * seconds). `buf`
    (BUF_BYTES, optional) is the caller's preallocated block buffer."""
    n = int(rate * seconds)
    f.write(header(2 * n, rate))
    if buf is None:
        buf = bytearray(BUF_BYTES)
    step = 2 * math.pi * tone_hz / rate
    i = 0
    block = 0
    while i < n:
        amp = 2000 + (block % 16) * 1000
        m = min(_BLOCK_SAMPLES, n - i)
        for j in range(m):
            struct.pack_into("<h", buf, 2 * j, int(amp * math.sin(step * (i + j))))
        f.write(memoryview(buf)[: 2 * m])
        i += m
        block += 1
    return 44 + 2 * n
