from collections.abc import Mapping

from _typeshed import ReadableBuffer

from protocol.canonical import JSON, Encodable

MAX_DEPTH: int

class CJsonCodec:
    name: str
    def dumps(self, obj: Encodable | Mapping[str, object]) -> bytes: ...
    def loads_canonical(self, data: ReadableBuffer) -> JSON: ...
