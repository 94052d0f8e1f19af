"""The simulated peripherals produce real data, checked under CPython and on micropython."""

from __future__ import annotations

import json
import struct
import sys
import wave

import pytest

from tests.support.micropython import cpython_path, run_micropython

for p in cpython_path():
    if p not in sys.path:
        sys.path.append(p)

from hal import jpeg, wav  # noqa: E402


def decode_blocks(data: bytes) -> tuple[int, int, int]:
    """Walk the JPEG's segments, then Huffman-decode its entropy data with the tables it
    declares; return (width, height, blocks decoded). Raises on any inconsistency."""
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    i = 2
    tables = {}
    width = height = None
    while True:
        assert data[i] == 0xFF, f"marker expected at {i}"
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        seg = data[i + 4 : i + 2 + length]
        if marker == 0xC0:
            height, width = struct.unpack(">HH", seg[1:5])
        elif marker == 0xC4:
            cls_id = seg[0]
            counts = seg[1:17]
            vals = seg[17:]
            code, k, table = 0, 0, {}
            for bits, n in enumerate(counts, 1):
                for _ in range(n):
                    table[(bits, code)] = vals[k]
                    code += 1
                    k += 1
                code <<= 1
            tables[cls_id >> 4] = table
        i += 2 + length
        if marker == 0xDA:
            break
    entropy = data[i:-2]
    assert b"\xff" not in entropy  # no markers or stuffing inside our coded data
    bits = "".join(f"{b:08b}" for b in entropy)
    pos = 0

    def symbol(table):
        nonlocal pos
        code = 0
        for n in range(1, 17):
            code = (code << 1) | (bits[pos] == "1")
            pos += 1
            if (n, code) in table:
                return table[(n, code)]
        raise AssertionError("bad huffman code")

    blocks = 0
    want = (width // 8) * (height // 8)
    while blocks < want:
        assert symbol(tables[0]) == 0  # DC difference category 0
        k = 1
        while k < 64:
            s = symbol(tables[1])
            if s == 0:  # EOB
                break
            pos += s & 0x0F  # the coefficient's bits
            k += 1 + (s >> 4)
        blocks += 1
    assert pos == len(bits), "entropy data longer than the blocks"
    return width, height, blocks


@pytest.mark.parametrize("size", [1024, 5000, 65536, 300_001])
def test_jpeg_exact_size_and_decodable(tmp_path, size):
    p = tmp_path / "a.jpg"
    with open(p, "wb") as f:
        jpeg.write(f, size, seed=3)
    data = p.read_bytes()
    assert len(data) == size
    w, h, blocks = decode_blocks(data)
    assert blocks == (w // 8) * (h // 8) > 0


def test_jpeg_chunks_differ_and_seeds_differ(tmp_path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    with open(a, "wb") as f:
        jpeg.write(f, 200_000, seed=1)
    with open(b, "wb") as f:
        jpeg.write(f, 200_000, seed=2)
    da = a.read_bytes()
    assert da != b.read_bytes()
    chunks = [da[i : i + 16384] for i in range(0, len(da), 16384)]
    assert len(set(chunks)) == len(chunks)


def test_wav_is_a_real_clip(tmp_path):
    p = tmp_path / "a.wav"
    with open(p, "wb") as f:
        size = wav.write(f, 20)
    assert size == p.stat().st_size == 44 + 320_000
    with wave.open(str(p)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.getnframes() == 160_000
        frames = w.readframes(8000)
    samples = struct.unpack("<8000h", frames)
    assert max(samples) > 1000 and min(samples) < -1000


def test_same_bytes_on_micropython(tmp_path):
    """The firmware writes the identical JPEG on the MicroPython unix port."""
    out = tmp_path / "mp.jpg"
    r = run_micropython(
        f"from hal import jpeg\nwith open({str(out)!r}, 'wb') as f:\n    jpeg.write(f, 70000, 5)\n",
        check=True,
    )
    assert r.returncode == 0
    ref = tmp_path / "cp.jpg"
    with open(ref, "wb") as f:
        jpeg.write(f, 70000, 5)
    assert out.read_bytes() == ref.read_bytes()


def test_gps_follows_route_and_clock_offset_on_micropython():
    script = (
        "import json\n"
        "from hal.clock import Clock\n"
        "from hal.sim import SimGPS\n"
        "class C(Clock):\n"
        "    t = 1000\n"
        "    def time(self):\n"
        "        return self.t + self.offset_s\n"
        "c = C(60)\n"
        "g = SimGPS(c, [[30000000, 120000000], [30001000, 120000000]], speed_mps=10)\n"
        "out = [g.fix()]\n"
        "c.t += 5\n"
        "out.append(g.fix())\n"
        "c.t += 100\n"
        "out.append(g.fix())\n"
        "print(json.dumps(out))\n"
    )
    r = run_micropython(script, check=True)
    a, b, c = json.loads(r.stdout.strip().splitlines()[-1])
    assert a["lat_e6"] == 30000000 and a["ts"] == 1060
    assert 30000000 < b["lat_e6"] < 30001000  # 50 m along a ~111 m segment
    assert isinstance(b["lat_e6"], int) and b["lon_e6"] == 120000000
    assert 30000000 <= c["lat_e6"] <= 30001000  # walks back and forth, never off the route
