"""Envelope sign / verify speed: MicroPython (pure Ed25519), CPython pure, and the hub's OpenSSL."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from protocol import crypto, envelope
from protocol.ossl import CryptographyBackend

ROOT = Path(__file__).resolve().parents[1]


def _micropython() -> tuple[float, float, int]:
    exe = str(Path(sys.executable).parent / "micropython")
    if not Path(exe).exists():
        exe = shutil.which("micropython") or "micropython"
    out = subprocess.run(
        [exe, "-X", "heapsize=192K", str(ROOT / "bench/mp_sign_verify.py"), str(ROOT), "20"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.split()
    vals = dict(zip(out[::2], map(int, out[1::2]), strict=True))
    return vals["seal_us"] / 1000, vals["open_us"] / 1000, vals["bytes"]


def _envelope() -> tuple[bytes, bytes]:
    seed = bytes(range(32))
    body = {
        "category": "road_damage",
        "grid": "33010200100101",
        "text": "东门口路面塌陷",
        "loc": {"lat_e6": 30274100, "lon_e6": 120155100, "acc_m": 5},
        "worker": "w-0007",
    }
    env = envelope.build("hh-33010200100101", 1, 1795000000, "report", body)
    return envelope.seal(env, seed), crypto.public_key(seed)


def _rate(fn, seconds: float = 1.0) -> tuple[float, float]:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    elapsed = time.perf_counter() - start
    return n / elapsed, elapsed / n * 1000


def run() -> Table:
    data, pk = _envelope()
    seed = bytes(range(32))
    env = envelope.parse(data)
    table = Table(title="Envelope signing and verification (one report envelope)")
    for col in ("interpreter / backend", "seal ms", "open (verify) ms", "verifies/s", "note"):
        table.add_column(col)
    mp_seal, mp_open, size = _micropython()
    table.add_row(
        "MicroPython 1.29 unix, pure Ed25519",
        f"{mp_seal:.1f}",
        f"{mp_open:.1f}",
        f"{1000 / mp_open:.0f}",
        f"{size} B envelope, -X heapsize=192K",
    )
    before = crypto.get_backend()
    try:
        _, pure_seal = _rate(lambda: envelope.seal(env, seed), 0.5)
        pure_rate, pure_open = _rate(lambda: envelope.open(data, pk), 0.5)
        table.add_row(
            "CPython, pure Ed25519", f"{pure_seal:.2f}", f"{pure_open:.2f}", f"{pure_rate:.0f}", ""
        )
        crypto.set_backend(CryptographyBackend())
        _, ossl_seal = _rate(lambda: envelope.seal(env, seed))
        ossl_rate, ossl_open = _rate(lambda: envelope.open(data, pk))
        table.add_row(
            "CPython, cryptography (hub)",
            f"{ossl_seal:.3f}",
            f"{ossl_open:.3f}",
            f"{ossl_rate:.0f}",
            f"{ossl_rate / (1000 / mp_open):.0f}x MicroPython",
        )
    finally:
        crypto.set_backend(before)
    return table


if __name__ == "__main__":
    Console(width=120).print(run())
