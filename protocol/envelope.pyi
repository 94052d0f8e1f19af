from collections.abc import Iterable, Mapping
from typing import Final, Literal, NotRequired, TypeAlias, TypedDict, type_check_only

from _typeshed import ReadableBuffer

from protocol.canonical import JSON, Encodable

_Bytes: TypeAlias = bytes | bytearray | memoryview

DOMAIN: Final = b"evt"
EMPTY_SHA256: Final = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
FIELDS: Final = ("blobs", "body", "dev", "kind", "prev", "seq", "sig", "ts", "v")
HIST: Final = "hist"

@type_check_only
class BlobRef(TypedDict):
    """One `blobs` item (also what chunking.describe() returns)."""

    mime: str
    sha256: str  # 64 lower-case hex characters
    size: int

@type_check_only
class UnsignedEnvelope(TypedDict):
    """What build() returns: every field validated, no `sig` yet."""

    v: int
    dev: str
    seq: int
    ts: int
    kind: str
    body: dict[str, JSON]
    blobs: list[BlobRef]
    prev: str  # 64 lower-case hex characters (GENESIS for a device's first envelope)
    hist: NotRequired[Literal[True]]  # present only on a historical envelope

@type_check_only
class Envelope(UnsignedEnvelope):
    """What parse() / open() return: exactly these fields, all validated."""

    sig: str  # 128 lower-case hex characters

def blob_ref(sha256: str, size: int, mime: str) -> BlobRef: ...

# Callers pass any mapping with the envelope's fields (an Envelope, or a dict[str, Any] a
# caller kept); the runtime reads the fields it needs and raises ProtocolError subclasses.
def build(
    dev: str,
    seq: int,
    ts: int,
    kind: str,
    body: Mapping[str, Encodable],
    blobs: Iterable[BlobRef] = (),
    prev: str = ...,
    hist: bool = False,
) -> UnsignedEnvelope: ...
def seal(env: Mapping[str, object], seed: ReadableBuffer) -> bytes: ...
def parse(data: _Bytes) -> Envelope: ...
def verify(env: Mapping[str, object], public: ReadableBuffer) -> None: ...
def open(data: _Bytes, public: ReadableBuffer) -> Envelope: ...
def digest(data: ReadableBuffer) -> str: ...
def check_skew(env: Mapping[str, object], now: int) -> None: ...

# True when env carries hist, or now - ts > LIVE_WINDOW_S (a late arrival).
def is_historical(env: Mapping[str, object], now: int) -> bool: ...
def follows(env: Mapping[str, object], last_seq: int) -> None: ...
