"""firmware/lib/keyed.py: the device's public key computed once; the same signatures."""

from __future__ import annotations


def test_keyed_backend_signs_the_same_bytes_and_twice_as_fast(run_mpy):
    script = """
import time
from protocol import crypto, ed25519
import keyed
seed = bytes(range(32))
msgs = [b"m%d" % i for i in range(12)]
t = time.ticks_ms(); pure = [crypto.sign(seed, m) for m in msgs]; t_pure = time.ticks_ms() - t
b = keyed.install(seed)
t = time.ticks_ms(); fast = [crypto.sign(seed, m) for m in msgs]; t_fast = time.ticks_ms() - t
other = b"\\x09" * 32
pk_same = crypto.public_key(seed) == ed25519.public_key(seed)
print("NAME", b.name, "SAME", pure == fast, "PK", pk_same)
print("OTHER", crypto.sign(other, b"x") == ed25519.sign(other, b"x"))
print("FASTER", t_fast * 3 < t_pure * 2, t_pure, t_fast)
class Native:
    name = "native"
crypto.set_backend(Native())
print("KEPT", keyed.install(seed).name)
"""
    out = run_mpy(script, heapsize="4M")
    assert "NAME pure-keyed SAME True PK True" in out, out
    assert "OTHER True" in out, out
    assert "FASTER True" in out, out
    assert "KEPT native" in out, out
