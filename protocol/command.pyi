from collections.abc import Mapping
from typing import Final, Literal, NotRequired, TypeAlias, TypedDict, type_check_only

from _typeshed import ReadableBuffer

from protocol.canonical import JSON, Encodable

_Bytes: TypeAlias = bytes | bytearray | memoryview
AckStatus: TypeAlias = Literal["succeeded", "failed", "refused"]

CMD_DOMAIN: Final = b"cmd"
RCPT_DOMAIN: Final = b"rcpt"
STATE_DOMAIN: Final = b"state"
CMD_FIELDS: list[str]
ACK_STATUSES: Final[tuple[AckStatus, AckStatus, AckStatus]]

@type_check_only
class Command(TypedDict):
    """What parse_command() / CommandGuard.check() return: exactly these fields, validated."""

    v: int
    dev: str
    cseq: int
    id: str
    op: str
    args: dict[str, JSON]
    iat: int
    exp: int
    sig: str

@type_check_only
class AckBody(TypedDict):
    id: JSON  # the command's id and cseq as received (None when it did not parse)
    cseq: JSON
    status: AckStatus
    detail: str

@type_check_only
class Receipt(TypedDict):
    """What open_receipt() returns. Only `seq`, `blobs` and `sig` are checked for type; the
    rest is as signed by the hub key."""

    v: JSON
    dev: JSON
    seq: int
    blobs: dict[str, JSON]  # sha256 -> missing chunk indices
    ts: JSON
    sig: str

@type_check_only
class State(TypedDict):
    """What open_state() returns: these keys are present (others may be too)."""

    v: JSON
    dev: JSON  # the device id, or None for the hub state
    online: bool
    session: int
    ts: JSON
    fw: NotRequired[JSON]
    hw: NotRequired[JSON]  # the hardware name bundles are matched against (not checked)
    lists: NotRequired[int]  # a birth's access-list version, 0..MAX_SEQ (checked when present)
    seq: NotRequired[int]  # a birth's highest envelope seq assigned, 0..MAX_SEQ (checked)
    sig: str

def seal_command(
    dev: str,
    cseq: int,
    cmd_id: str,
    op: str,
    args: Mapping[str, Encodable],
    iat: int,
    exp: int,
    hub_seed: ReadableBuffer,
) -> bytes: ...
def parse_command(data: _Bytes) -> Command: ...

class CommandGuard:
    hub_public_key: bytes
    device_id: str
    last_cseq: int
    def __init__(
        self, hub_public_key: ReadableBuffer, device_id: str, last_cseq: int = 0
    ) -> None: ...
    def check(self, data: _Bytes, now: int) -> Command: ...

def ack_body(
    cmd: Command | Mapping[str, JSON] | None, status: AckStatus, detail: str = ""
) -> AckBody: ...
def seal_receipt(
    dev: str, seq: int, blobs_missing: dict[str, list[int]], ts: int, hub_seed: ReadableBuffer
) -> bytes: ...
def open_receipt(data: _Bytes, hub_public_key: ReadableBuffer) -> Receipt: ...
def seal_state(
    dev: str | None,
    online: bool,
    session: int,
    ts: int,
    seed: ReadableBuffer,
    fw: str | None = None,
    lists: int | None = None,
    seq: int | None = None,
    hw: str | None = None,
) -> bytes: ...
def open_state(data: _Bytes, public_key: ReadableBuffer | None = None) -> State: ...
