from __future__ import annotations

import hashlib
import io
import random

import pytest

from protocol import chunking
from protocol.errors import BlobError, MalformedError


def _blob(size: int) -> bytes:
    return random.Random(size).randbytes(size)


@pytest.mark.parametrize("size", [0, 1, 16383, 16384, 16385, 100_000])
def test_iter_chunks_reuses_one_buffer_and_covers_the_stream(size):
    data = _blob(size)
    buf = bytearray(16384)
    parts = []
    for index, mv in chunking.iter_chunks(io.BytesIO(data), 16384, buf):
        assert mv.obj is buf
        parts.append((index, bytes(mv)))
    assert [i for i, _ in parts] == list(range(chunking.chunk_count(size)))
    assert b"".join(p for _, p in parts) == data


def test_describe_streams_the_hash():
    data = _blob(50_000)
    d = chunking.describe(io.BytesIO(data), "image/jpeg")
    assert d == {"mime": "image/jpeg", "sha256": hashlib.sha256(data).hexdigest(), "size": 50_000}


def test_frames_round_trip():
    sha = hashlib.sha256(b"x").digest()
    frame = chunking.pack_header(sha, 3, 9) + b"payload"
    assert len(chunking.pack_header(sha, 3, 9)) == chunking.HEADER_SIZE
    sha_hex, index, total, payload = chunking.parse_frame(frame)
    assert (sha_hex, index, total, bytes(payload)) == (sha.hex(), 3, 9, b"payload")


@pytest.mark.parametrize(
    "frame",
    [b"GLB1", b"XXXX" + bytes(40), b"GLB1" + bytes(32) + (5).to_bytes(4, "big") + bytes(4)],
)
def test_bad_frames_are_rejected(frame):
    with pytest.raises(MalformedError):
        chunking.parse_frame(frame)


def test_reassembly_any_order_with_duplicates_and_resume(tmp_path):
    data = _blob(5 * 16384 + 77)
    sha = hashlib.sha256(data).hexdigest()
    chunks = [(i, data[i * 16384 : (i + 1) * 16384]) for i in range(6)]
    order = chunks[::-1] + chunks[2:4]
    path = tmp_path / "blob.part"
    with open(path, "w+b") as sink:
        r = chunking.Reassembly(sha, len(data), sink)
        fresh = [r.add(i, c) for i, c in order[:3]]
        assert fresh == [True, True, True]
        assert r.missing() == [0, 1, 2]
        progress = r.have_bytes()
    with open(path, "r+b") as sink:  # a restart: progress restored from the bitmap
        r = chunking.Reassembly(sha, len(data), sink, have=progress)
        assert r.missing() == [0, 1, 2]
        new = [r.add(i, c) for i, c in order[3:]]
        assert new == [True, True, True, False, False]
        assert r.complete
        r.finish()
    assert path.read_bytes() == data


def test_reassembly_detects_a_wrong_hash_and_wrong_lengths(tmp_path):
    data = _blob(20000)
    with open(tmp_path / "b", "w+b") as sink:
        r = chunking.Reassembly("0" * 64, len(data), sink)
        with pytest.raises(MalformedError):
            r.add(0, data[:100])
        with pytest.raises(MalformedError):
            r.add(2, data[:100])
        r.add(0, data[:16384])
        with pytest.raises(BlobError, match="incomplete"):
            r.finish()
        r.add(1, data[16384:])
        with pytest.raises(BlobError, match="does not match"):
            r.finish()


@pytest.mark.parametrize("buf_size", [1024, 4096, 16384, 65536])
def test_describe_with_any_buffer_size_hashes_the_whole_stream(buf_size):
    data = _blob(40_000)
    d = chunking.describe(io.BytesIO(data), "image/jpeg", bytearray(buf_size))
    assert (d["size"], d["sha256"]) == (40_000, hashlib.sha256(data).hexdigest())


def test_iter_chunks_refuses_a_buffer_shorter_than_a_chunk():
    with pytest.raises(ValueError):
        list(chunking.iter_chunks(io.BytesIO(b"x" * 10), 16384, bytearray(4096)))
