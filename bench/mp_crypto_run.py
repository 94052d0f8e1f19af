# Runs under MicroPython: the device's crypto costs, each beside a baseline measured in the
# same process (a fixed small-int loop: the interpreter's own speed), so the ratios hold on
# a loaded machine.
#   micropython -X heapsize=512K bench/mp_crypto_run.py <repo root> <n> time
#   micropython -X heapsize=64M bench/mp_crypto_run.py <repo root> 1 alloc
# Prints "name us" (time) or "name bytes" (alloc: garbage made by one call, the collector
# off, so it needs a heap larger than the garbage); gc4k_ lines run under the device's
# gc.threshold(4096) with ~200 KB live.
import sys

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else ".")
import gc  # noqa: E402
import time  # noqa: E402

from protocol import crypto, ed25519, envelope, sha512  # noqa: E402

N = int(sys.argv[2]) if len(sys.argv) > 2 else 10
MODE = sys.argv[3] if len(sys.argv) > 3 else "time"
seed = bytes(range(32))
public = ed25519.public_key(seed)
msg = b"gridlink/v1/evt\n" + bytes(32)  # what sealed.py signs: a SHA-256 pre-hash
sig = ed25519.sign(seed, msg, public)
data4k = bytes(4096)
evs = [{"ev": "granted", "door": "d1", "dir": "in", "by": "face", "lat_ms": 1,
        "person": "p-%04d" % i, "score": 93, "template": "t-%04d" % i, "ts": 1795000000 + i,
        "ms": 123, "blob": i} for i in range(8)]  # fmt: skip
blobs = [{"mime": "image/jpeg", "sha256": "%064x" % (i * 7919), "size": 12000} for i in range(8)]
env = envelope.build("gt-face-bench", 5, 1795000000, "access",
                     {"community": "330102001001", "events": evs}, blobs, "ab" * 32)  # fmt: skip


class Keyed:  # what firmware/lib/keyed.py plugs in: the public key computed once
    name = "pure-keyed"

    def public_key(self, s):
        return public

    def sign(self, s, m):
        return ed25519.sign(s, m, public)

    def verify(self, p, m, s):
        return ed25519.verify(p, m, s)


crypto.set_backend(Keyed())


def _loop():
    x = 1
    for _ in range(20000):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


OPS = (
    ("baseline_loop", _loop),
    ("sha512_4k", lambda: sha512.sha512(data4k).digest()),
    ("sha512_64b", lambda: sha512.sha512(data4k[:64]).digest()),
    ("sign", lambda: ed25519.sign(seed, msg, public)),
    ("verify", lambda: ed25519.verify(public, msg, sig)),
    ("seal_gate_batch", lambda: envelope.seal(env, seed)),
)


def measure(name, fn, n):
    gc.collect()
    if MODE == "alloc":
        gc.disable()
        a0 = gc.mem_alloc()
        fn()
        print(name, gc.mem_alloc() - a0)
        gc.enable()
        return
    t0 = time.ticks_us()
    for _ in range(n):
        fn()
    print(name, time.ticks_diff(time.ticks_us(), t0) // n)


for name, fn in OPS:
    measure(name, fn, N)
if MODE == "alloc":
    sys.exit(0)
ballast = [bytearray(200) for _ in range(1000)]  # ~200 KB live, like a gate in its rush
gc.threshold(4096)  # firmware/main.py's default
for name, fn in OPS:
    if name in ("baseline_loop", "sign", "verify"):
        measure("gc4k_" + name, fn, N)
