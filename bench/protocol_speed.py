"""Envelope sign / verify speed: MicroPython (pure Ed25519), CPython pure, and the hub's OpenSSL."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.results import Report, Row
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


def measure() -> dict[str, float | int]:
    """Milliseconds per seal / open and verifies per second, per interpreter / backend."""
    data, pk = _envelope()
    seed = bytes(range(32))
    env = envelope.parse(data)
    mp_seal, mp_open, size = _micropython()
    r: dict[str, float | int] = {"mp_seal_ms": mp_seal, "mp_open_ms": mp_open, "bytes": size}
    before = crypto.get_backend()
    try:
        _, r["pure_seal_ms"] = _rate(lambda: envelope.seal(env, seed), 0.5)
        r["pure_rate"], r["pure_open_ms"] = _rate(lambda: envelope.open(data, pk), 0.5)
        crypto.set_backend(CryptographyBackend())
        _, r["ossl_seal_ms"] = _rate(lambda: envelope.seal(env, seed))
        r["ossl_rate"], r["ossl_open_ms"] = _rate(lambda: envelope.open(data, pk))
    finally:
        crypto.set_backend(before)
    return r


def table(r: dict[str, float | int]) -> Table:
    t = Table(title="Envelope signing and verification (one report envelope)")
    for col in ("interpreter / backend", "seal ms", "open (verify) ms", "verifies/s", "note"):
        t.add_column(col)
    mp_rate = 1000 / r["mp_open_ms"]
    t.add_row(
        "MicroPython 1.29 unix, pure Ed25519",
        f"{r['mp_seal_ms']:.1f}",
        f"{r['mp_open_ms']:.1f}",
        f"{mp_rate:.0f}",
        f"{r['bytes']} B envelope, -X heapsize=192K",
    )
    t.add_row(
        "CPython, pure Ed25519",
        f"{r['pure_seal_ms']:.2f}",
        f"{r['pure_open_ms']:.2f}",
        f"{r['pure_rate']:.0f}",
        "",
    )
    t.add_row(
        "CPython, cryptography (hub)",
        f"{r['ossl_seal_ms']:.3f}",
        f"{r['ossl_open_ms']:.3f}",
        f"{r['ossl_rate']:.0f}",
        f"{r['ossl_rate'] / mp_rate:.0f}x MicroPython",
    )
    return t


def rows(r: dict[str, float | int]) -> list[Row]:
    s, mp_rate = "protocol_speed", 1000 / r["mp_open_ms"]
    size = {"envelope_bytes": r["bytes"]}
    return [
        Row(s, "MicroPython seal (pure Ed25519)", round(r["mp_seal_ms"], 2), "ms", details=size),
        Row(s, "MicroPython open (verify)", round(r["mp_open_ms"], 2), "ms", details=size),
        Row(s, "CPython pure seal", round(r["pure_seal_ms"], 3), "ms", headline=False),
        Row(s, "CPython pure open", round(r["pure_open_ms"], 3), "ms", headline=False),
        Row(s, "hub (cryptography) seal", round(r["ossl_seal_ms"], 4), "ms", headline=False),
        Row(
            s,
            "hub (cryptography) verifies",
            round(r["ossl_rate"]),
            "/s",
            ratio=round(r["ossl_rate"] / mp_rate),
            baseline="MicroPython",
            details={"open_ms": round(r["ossl_open_ms"], 4)},
        ),
    ]


def run() -> Report:
    r = measure()
    return Report(table(r), rows(r))


if __name__ == "__main__":
    Console(width=120).print(table(measure()))
