"""Media chunk frames and streaming helpers: nothing here holds a whole blob in memory.

Frame: b"GLB1" | blob SHA-256 (32 bytes) | index u32 BE | total u32 BE | payload.
"""

import hashlib
import struct

from protocol.errors import BlobError, MalformedError
from protocol.limits import CHUNK_SIZE, MAX_BLOB_BYTES, MAX_CHUNK_SIZE

MAGIC = b"GLB1"
HEADER_FMT = ">4s32sII"
HEADER_SIZE = 44


def chunk_count(size, chunk_size=CHUNK_SIZE):
    return (size + chunk_size - 1) // chunk_size


def pack_header(sha_raw, index, total):
    if len(sha_raw) != 32:
        raise ValueError("sha_raw must be the 32-byte digest")
    return struct.pack(HEADER_FMT, MAGIC, bytes(sha_raw), index, total)


def parse_frame(data):
    """(sha256 hex, index, total, payload memoryview) of one received frame."""
    if len(data) < HEADER_SIZE:
        raise MalformedError("chunk frame shorter than its header")
    mv = memoryview(data)
    magic, sha_raw, index, total = struct.unpack(HEADER_FMT, bytes(mv[:HEADER_SIZE]))
    if magic != MAGIC:
        raise MalformedError("chunk frame has a bad magic")
    if total < 1 or index >= total:
        raise MalformedError("chunk index %d out of range 0..%d" % (index, total - 1))
    if len(data) - HEADER_SIZE > MAX_CHUNK_SIZE:
        raise MalformedError("chunk payload larger than %d" % MAX_CHUNK_SIZE)
    return sha_raw.hex(), index, total, mv[HEADER_SIZE:]


def _fill(stream, mv):
    """readinto until `mv` is full or the stream ends; bytes read."""
    n = 0
    while n < len(mv):
        got = stream.readinto(mv[n:])
        if not got:
            break
        n += got
    return n


def iter_chunks(stream, chunk_size=CHUNK_SIZE, buf=None):
    """Yield (index, memoryview) per chunk, reusing one buffer: consume before the next."""
    if buf is None:
        buf = bytearray(chunk_size)
    elif len(buf) < chunk_size:
        # a short buffer would end the stream at the first chunk without saying so
        raise ValueError("buffer of %d bytes is smaller than the chunk size %d"
                         % (len(buf), chunk_size))
    mv = memoryview(buf)[:chunk_size]
    index = 0
    while True:
        n = _fill(stream, mv)
        if not n:
            return
        yield index, mv[:n]
        index += 1
        if n < chunk_size:
            return


def describe(stream, mime, buf=None):
    """{"sha256", "size", "mime"} of a stream, hashed in chunks."""
    h = hashlib.sha256()
    size = 0
    # any read size hashes the same bytes: use the whole buffer the caller lends
    for _, part in iter_chunks(stream, len(buf) if buf is not None else CHUNK_SIZE, buf):
        h.update(part)
        size += len(part)
    return {"mime": mime, "sha256": h.digest().hex(), "size": size}


class Reassembly:
    """Collects chunks of one blob into a seekable `sink` (a file opened "r+b"/"w+b").

    Chunks may come in any order and more than once; `have` (a bitmap from `have_bytes()`)
    restores progress after a restart.
    """

    def __init__(self, sha256_hex, size, sink, chunk_size=CHUNK_SIZE, have=None):
        if not 0 <= size <= MAX_BLOB_BYTES:
            raise MalformedError("blob size %d out of range" % size)
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise MalformedError("chunk size %d out of range" % chunk_size)
        self.sha256 = sha256_hex
        self.size = size
        self.sink = sink
        self.chunk_size = chunk_size
        self.total = chunk_count(size, chunk_size)
        nbytes = (self.total + 7) // 8
        self._have = bytearray(have) if have is not None else bytearray(nbytes)
        if len(self._have) != nbytes:
            raise ValueError("progress bitmap has the wrong length")
        self.received = 0
        for i in range(self.total):
            if self._has(i):
                self.received += 1

    def _has(self, i):
        return self._have[i >> 3] & (1 << (i & 7))

    def expected_len(self, index):
        if index == self.total - 1:
            return self.size - index * self.chunk_size
        return self.chunk_size

    def add(self, index, data):
        """Store chunk `index`; False when it was already held."""
        if not 0 <= index < self.total:
            raise MalformedError("chunk index %d out of range 0..%d" % (index, self.total - 1))
        if len(data) != self.expected_len(index):
            raise MalformedError("chunk %d has %d bytes, expected %d"
                                 % (index, len(data), self.expected_len(index)))
        if self._has(index):
            return False
        self.sink.seek(index * self.chunk_size)
        self.sink.write(data)
        self._have[index >> 3] |= 1 << (index & 7)
        self.received += 1
        return True

    @property
    def complete(self):
        return self.received == self.total

    def missing(self, limit=None):
        out = []
        for i in range(self.total):
            if not self._has(i):
                out.append(i)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def have_bytes(self):
        return bytes(self._have)

    def finish(self):
        """Verify the reassembled bytes against the SHA-256; BlobError on mismatch."""
        if not self.complete:
            raise BlobError("blob incomplete: %d of %d chunks" % (self.received, self.total))
        self.sink.flush()
        self.sink.seek(0)
        h = hashlib.sha256()
        left = self.size
        buf = bytearray(min(self.chunk_size, max(left, 1)))
        mv = memoryview(buf)
        while left > 0:
            n = _fill(self.sink, mv[: min(left, len(buf))])
            if not n:
                raise BlobError("blob store is shorter than the blob")
            h.update(mv[:n])
            left -= n
        if h.digest().hex() != self.sha256:
            raise BlobError("blob SHA-256 does not match")
