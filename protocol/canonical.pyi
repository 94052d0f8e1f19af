from collections.abc import Mapping, Sequence
from typing import TypeAlias

from _typeshed import ReadableBuffer

# A value canonical JSON can hold: what loads_canonical() returns. No floats.
JSON: TypeAlias = None | bool | int | str | list[JSON] | dict[str, JSON]
# What json.loads may return: JSON plus floats (loads() does not reject them).
RawJSON: TypeAlias = None | bool | int | float | str | list[RawJSON] | dict[str, RawJSON]
# What dumps() accepts, as covariant containers so that e.g. dict[str, list[int]] fits. The
# runtime takes exactly dict / list / tuple (any other container is a MalformedError), and
# dumps() also takes a TypedDict such as an Envelope (a Mapping[str, object] to the checker).
Encodable: TypeAlias = None | bool | int | str | Sequence[Encodable] | Mapping[str, Encodable]

def dumps(obj: Encodable | Mapping[str, object]) -> bytes: ...
def loads(data: str | ReadableBuffer) -> RawJSON: ...
def loads_canonical(data: ReadableBuffer) -> JSON: ...
