# Runs under MicroPython (and CPython): time sealing and opening one report envelope.
import sys

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else ".")
import gc  # noqa: E402
import time  # noqa: E402

from protocol import crypto, envelope  # noqa: E402

N = int(sys.argv[2]) if len(sys.argv) > 2 else 20
seed = bytes(range(32))
pk = crypto.public_key(seed)
body = {
    "category": "road_damage",
    "grid": "33010200100101",
    "text": "东门口路面塌陷，需要处理",
    "loc": {"lat_e6": 30274100, "lon_e6": 120155100, "acc_m": 5},
    "worker": "w-0007",
}
blobs = [{"mime": "image/jpeg", "sha256": "ab" * 32, "size": 2097152}]
env = envelope.build("hh-33010200100101", 1, 1795000000, "report", body, blobs)
gc.collect()
try:
    import micropython  # noqa: F401

    clock = time.ticks_us
    diff = time.ticks_diff
except ImportError:

    def clock():
        return int(time.perf_counter() * 1e6)

    def diff(a, b):
        return a - b


t0 = clock()
for _ in range(N):
    data = envelope.seal(env, seed)
t1 = clock()
for _ in range(N):
    envelope.open(data, pk)
t2 = clock()
print("seal_us %d open_us %d bytes %d" % (diff(t1, t0) // N, diff(t2, t1) // N, len(data)))
