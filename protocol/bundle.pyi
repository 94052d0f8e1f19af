from typing import ClassVar, Final, Literal, Protocol, TypeAlias, TypedDict, type_check_only

from _typeshed import ReadableBuffer

from protocol.errors import ProtocolError

_Bytes: TypeAlias = bytes | bytearray | memoryview
OtaState: TypeAlias = Literal[
    "downloading", "verified", "updating", "updated", "failed", "rolled_back"
]

DOMAIN: Final = b"bundle"
FIELDS: Final[tuple[str, ...]]
KINDS: Final[tuple[str, ...]]
ANY_HW: Final = "*"
MAX_MANIFEST_BYTES: Final[int]
MAX_FILES: Final[int]
MAX_FILE_BYTES: Final[int]
MAX_BUNDLE_BYTES: Final[int]
MAX_PATH_LEN: Final[int]
MAX_NAME_LEN: Final[int]
MIN_FETCH_CHUNK: Final[int]
MAX_FETCH_CHUNK: Final[int]
STATES: Final[tuple[OtaState, ...]]
MAX_REASON_LEN: Final[int]

@type_check_only
class FileEntry(TypedDict):
    path: str
    sha256: str
    size: int

@type_check_only
class Manifest(TypedDict):
    v: int
    name: str
    version: str
    kinds: list[str]
    hw: list[str]
    min_hub: int
    files: list[FileEntry]

@type_check_only
class SealedManifest(Manifest):
    sig: str

@type_check_only
class OtaArgs(TypedDict):
    rollout: str
    manifest: str
    size: int
    version: str

@type_check_only
class OtaBody(TypedDict):
    rollout: str | None
    manifest: str
    version: str
    state: OtaState
    reason: str | None
    done: int
    total: int

@type_check_only
class _Readinto(Protocol):
    def readinto(self, buf: bytearray, /) -> int | None: ...

class BundleError(ProtocolError):
    reason: ClassVar[str]
    sha: object
    i: object
    def __init__(self, reason: str, message: str) -> None: ...

def parse_version(s: object) -> tuple[int, int, int]: ...
def validate_path(path: object) -> str: ...
def file_entry(path: str, sha256: str, size: int) -> FileEntry: ...
def build(
    name: str,
    version: str,
    kinds: list[str] | tuple[str, ...],
    hw: list[str] | tuple[str, ...],
    files: list[FileEntry],
    min_hub: int = ...,
) -> Manifest: ...
def seal(manifest: Manifest, ops_seed: ReadableBuffer) -> bytes: ...
def parse(data: _Bytes) -> SealedManifest: ...
def open(data: _Bytes, ops_public_key: ReadableBuffer) -> SealedManifest: ...
def accept(
    manifest: Manifest, kind: str, hw: str, running: str | None, hub_protocol: int | None = None
) -> None: ...
def digest(data: ReadableBuffer) -> str: ...
def check_file(stream: _Readinto, entry: FileEntry, buf: bytearray) -> None: ...
def fetch_request(sha256: str, index: int, chunk_size: int) -> bytes: ...
def parse_fetch_request(data: _Bytes) -> tuple[str, int, int]: ...
def fetch_error(sha256: str, index: int, reason: str) -> bytes: ...
def parse_fetch_reply(data: _Bytes) -> tuple[str, int, int, memoryview]: ...
def command_args(rollout: str, manifest_sha: str, size: int, version: str) -> OtaArgs: ...
def check_command_args(args: object) -> OtaArgs: ...
def event_body(
    rollout: str | None,
    manifest_sha: str,
    version: str,
    state: OtaState,
    reason: str | None = None,
    done: int = 0,
    total: int = 0,
) -> OtaBody: ...
def check_event_body(body: object) -> OtaBody: ...
