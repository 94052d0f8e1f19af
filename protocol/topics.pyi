from typing import Final, Literal, TypeAlias

Channel: TypeAlias = Literal["evt", "blob", "cmd", "ack", "state", "rcpt"]

PREFIX: Final = "gl/v1"
HUB_STATE: Final = "gl/v1/hub/state"
EVT_ALL: Final = "gl/v1/+/evt/+"
BLOB_ALL: Final = "gl/v1/+/blob"
ACK_ALL: Final = "gl/v1/+/ack"
STATE_ALL: Final = "gl/v1/+/state"
CHANNELS: Final[tuple[Channel, ...]]

# Validators take any value and return it when it is a valid str (DeviceIdError /
# MalformedError otherwise).
def validate_device_id(dev: object) -> str: ...
def validate_kind(kind: object) -> str: ...
def evt(dev: str, kind: str) -> str: ...
def blob(dev: str) -> str: ...
def cmd(dev: str) -> str: ...
def ack(dev: str) -> str: ...
def state(dev: str) -> str: ...
def rcpt(dev: str) -> str: ...

# (device id, channel, kind): kind is a str exactly for "evt" topics.
def parse(
    topic: str,
) -> (
    tuple[str, Literal["evt"], str]
    | tuple[str, Literal["blob", "cmd", "ack", "state", "rcpt"], None]
): ...
