from collections.abc import Iterator
from typing import Final, Protocol, TypeAlias, type_check_only

from _typeshed import ReadableBuffer

from protocol.envelope import BlobRef

_Bytes: TypeAlias = bytes | bytearray | memoryview
# buffers iter_chunks() / describe() fill through a writable memoryview
_WritableBuf: TypeAlias = bytearray | memoryview

MAGIC: Final = b"GLB1"
HEADER_FMT: Final = ">4s32sII"
HEADER_SIZE: Final = 44

@type_check_only
class Readable(Protocol):
    """A binary stream read with readinto() (a file opened "rb", io.BytesIO, ...)."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...

@type_check_only
class Sink(Readable, Protocol):
    """Reassembly's blob store: a seekable binary file opened "r+b" / "w+b"."""

    def seek(self, offset: int, /) -> object: ...
    def write(self, data: _Bytes, /) -> object: ...
    def flush(self) -> object: ...

def chunk_count(size: int, chunk_size: int = 16384) -> int: ...
def pack_header(sha_raw: _Bytes, index: int, total: int) -> bytes: ...

# (sha256 hex, index, total, payload): the payload is a view into `data`.
def parse_frame(data: _Bytes) -> tuple[str, int, int, memoryview]: ...

# The yielded memoryview is the reused buffer: consume it before the next item.
def iter_chunks(
    stream: Readable, chunk_size: int = 16384, buf: _WritableBuf | None = None
) -> Iterator[tuple[int, memoryview]]: ...
def describe(stream: Readable, mime: str, buf: _WritableBuf | None = None) -> BlobRef: ...

class Reassembly:
    sha256: str
    size: int
    sink: Sink
    chunk_size: int
    total: int
    received: int
    def __init__(
        self,
        sha256_hex: str,
        size: int,
        sink: Sink,
        chunk_size: int = 16384,
        have: ReadableBuffer | None = None,
    ) -> None: ...
    def expected_len(self, index: int) -> int: ...
    def add(self, index: int, data: _Bytes) -> bool: ...
    @property
    def complete(self) -> bool: ...
    def missing(self, limit: int | None = None) -> list[int]: ...
    def have_bytes(self) -> bytes: ...
    def finish(self) -> None: ...
