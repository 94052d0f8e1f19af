"""firmware/lib/keyed.py: the device's public key computed once; the same signatures."""

from __future__ import annotations


def test_keyed_backend_signs_the_same_bytes_with_half_the_work(run_mpy):
    script = """
import time
from protocol import crypto, ed25519
import keyed
seed = bytes(range(32))
msgs = [b"m%d" % i for i in range(12)]
calls = [0]
mul_base = ed25519._mul_base
def counted(k):
    calls[0] += 1
    return mul_base(k)
ed25519._mul_base = counted  # the scalar multiplication: nearly all of a signature's work
t = time.ticks_ms(); pure = [crypto.sign(seed, m) for m in msgs]; t_pure = time.ticks_ms() - t
n_pure = calls[0]
b = keyed.install(seed)
calls[0] = 0
t = time.ticks_ms(); fast = [crypto.sign(seed, m) for m in msgs]; t_fast = time.ticks_ms() - t
n_fast = calls[0]
ed25519._mul_base = mul_base
other = b"\\x09" * 32
pk_same = crypto.public_key(seed) == ed25519.public_key(seed)
print("NAME", b.name, "SAME", pure == fast, "PK", pk_same)
print("OTHER", crypto.sign(other, b"x") == ed25519.sign(other, b"x"))
# half the work, counted (a wall-clock ratio on a loaded CI box is noise; the times are shown)
print("HALF", n_pure == 2 * len(msgs) and n_fast == len(msgs), n_pure, n_fast, t_pure, t_fast)
class Native:
    name = "native"
crypto.set_backend(Native())
print("KEPT", keyed.install(seed).name)
"""
    out = run_mpy(script, heapsize="4M")
    assert "NAME pure-keyed SAME True PK True" in out, out
    assert "OTHER True" in out, out
    assert "HALF True" in out, out
    assert "KEPT native" in out, out
