from typing import Final, TypeAlias

from _typeshed import ReadableBuffer

_Bytes: TypeAlias = bytes | bytearray | memoryview

_Point: TypeAlias = tuple[int, int, int, int]

P: Final[int]
L: Final[int]
D: Final[int]
SQRT_M1: Final[int]
BASE: Final[_Point]
IDENTITY: Final[_Point]

def public_key(seed: _Bytes) -> bytes: ...
def sign(seed: _Bytes, msg: ReadableBuffer, public: ReadableBuffer | None = None) -> bytes: ...
def verify(public: _Bytes, msg: ReadableBuffer, sig: _Bytes) -> bool: ...
