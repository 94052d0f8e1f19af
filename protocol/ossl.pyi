from typing import TypeAlias

from _typeshed import ReadableBuffer

_Bytes: TypeAlias = bytes | bytearray | memoryview

class CryptographyBackend:
    """CPython only. Keys are cached by seed / public key, so those must be hashable bytes."""

    name: str
    def __init__(self) -> None: ...
    def public_key(self, seed: bytes) -> bytes: ...
    def sign(self, seed: bytes, msg: ReadableBuffer) -> bytes: ...
    def verify(self, public: bytes, msg: ReadableBuffer, sig: _Bytes) -> bool: ...
