"""The pure SHA-512 (protocol/sha512.py, what MicroPython ports without hashlib.sha512 use)."""

import hashlib
import math
import struct

import pytest

from protocol import sha512 as mod


def _primes(n: int) -> list[int]:
    out: list[int] = []
    k = 2
    while len(out) < n:
        if all(k % p for p in out):
            out.append(k)
        k += 1
    return out


def _icbrt(n: int) -> int:
    x = 1 << ((n.bit_length() + 2) // 3)
    while True:
        y = (2 * x + n // (x * x)) // 3
        if y >= x:
            return x
        x = y


def test_round_constants_are_fips_180_4() -> None:
    # K: the first 64 bits of the fractional parts of the cube roots of the first 80 primes;
    # IV: of the square roots of the first 8 (FIPS 180-4 4.2.3, 5.3.5)
    mask = (1 << 64) - 1
    k = [_icbrt(p << 192) & mask for p in _primes(80)]
    iv = [math.isqrt(p << 128) & mask for p in _primes(8)]
    assert list(struct.unpack(">80Q", mod._K)) == k
    assert list(struct.unpack(">8Q", mod._IV)) == iv


@pytest.mark.parametrize("n", [0, 1, 55, 111, 112, 127, 128, 129, 239, 240, 256, 1000, 4097])
def test_matches_hashlib(n: int) -> None:
    data = bytes((i * 7 + 3) & 0xFF for i in range(n))
    assert mod.sha512(data).digest() == hashlib.sha512(data).digest()


def test_incremental_and_repeated_digest() -> None:
    h = mod.sha512(b"abc")
    h.update(b"x" * 200)
    first = h.digest()
    assert h.digest() == first == hashlib.sha512(b"abc" + b"x" * 200).digest()
    assert mod.sha512(b"").digest() == hashlib.sha512(b"").digest()


def test_digest_leaves_no_schedule_behind() -> None:
    # the shared schedule is cleared after each digest: its 64-bit ints are heap objects on
    # MicroPython and would stay live between signatures otherwise
    mod.sha512(b"y" * 300).digest()
    assert list(mod._W) == [0] * 160


def test_a_block_allocates_nothing_on_micropython(run_micropython, tmp_path) -> None:
    # the halves stay small ints on a 64-bit port: 10 blocks allocate (almost) nothing, where
    # the 64-bit words made ~170 KB of heap objects a block (every collection of a device's
    # heap that cost came back in a signature's time)
    script = tmp_path / "blk.py"
    script.write_text(
        "import gc, sys\n"
        "sys.path.insert(0, '.')\n"
        "from protocol.sha512 import sha512\n"
        "h = sha512(b'x' * 128)\n"
        "data = bytes(range(128))\n"
        "gc.collect()\n"
        "gc.disable()\n"
        "a0 = gc.mem_alloc()\n"
        "for _ in range(10):\n"
        "    h._block(data, 0)\n"
        "print(gc.mem_alloc() - a0)\n"
        "print(h.digest().hex())\n"
    )
    proc = run_micropython(script)
    assert proc.returncode == 0, proc.stderr
    allocated, digest = proc.stdout.split()
    assert int(allocated) <= 256, allocated
    ref = mod.sha512(b"x" * 128)
    for _ in range(10):
        ref._block(bytes(range(128)), 0)
    assert digest == ref.digest().hex()
