"""protocol.cjson (the hub's C-backed canonical JSON) gives exactly what the pure encoder gives:
the same bytes, or the same error, on every shared vector and on generated values and bytes."""

from __future__ import annotations

import contextlib
import enum
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import canonical, cjson
from tests.protocol import vectors_runner

ROOT = Path(__file__).resolve().parents[2]
CODEC = cjson.CJsonCodec()


@contextlib.contextmanager
def installed() -> Iterator[None]:
    before = canonical.get_codec()
    canonical.set_codec(CODEC)
    try:
        yield
    finally:
        canonical.set_codec(before)


def outcome(fn: Callable[[Any], Any], arg: Any) -> tuple[str, Any]:
    """("ok", value) or ("error", the exception's type)."""
    try:
        return "ok", fn(arg)
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return "error", type(exc)


class Colour(enum.StrEnum):
    red = "red"


class Level(enum.IntEnum):
    one = 1


text = st.text(alphabet=st.characters(codec=None), max_size=12) | st.sampled_from(
    ["\x00", "\x1f", "\x7f", '"', "\\", "\u2028", "\ufeff", "\ud800", "网格", "\b\f\n\r\t"]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | text
    | st.floats(allow_nan=True)
    | st.sampled_from([Colour.red, Level.one, b"x", 1.0, -0.0])
)
keys = text | st.integers(-3, 3) | st.booleans() | st.none()
values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.lists(kids, max_size=3).map(tuple)
        | st.dictionaries(keys, kids, max_size=4)
    ),
    max_leaves=24,
)


def nested(depth: int, leaf: Any = 1) -> Any:
    out: Any = leaf
    for i in range(depth):
        out = [out] if i % 2 else {"k": out}
    return out


@given(values)
@settings(max_examples=600, deadline=None)
def test_dumps_gives_the_pure_bytes_or_the_pure_error(value: Any) -> None:
    assert outcome(CODEC.dumps, value) == outcome(canonical.pure_dumps, value)


@pytest.mark.parametrize("depth", [15, 16, 17, 18, 40])
@pytest.mark.parametrize("leaf", [1, [], {}, [1], {"a": 1}])
def test_nesting_at_the_limit_is_judged_the_same(depth: int, leaf: Any) -> None:
    value = nested(depth, leaf)
    assert outcome(CODEC.dumps, value) == outcome(canonical.pure_dumps, value)
    data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    assert outcome(CODEC.loads_canonical, data) == outcome(canonical.pure_loads_canonical, data)


def _canonical_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )


@st.composite
def wire_bytes(draw: st.DrawFn) -> bytes:
    """Canonical bytes, near-canonical bytes and junk."""
    value = draw(values.filter(lambda v: not isinstance(v, bytes)))
    try:
        data = _canonical_bytes(value)
    except (TypeError, ValueError):
        data = draw(st.binary(max_size=40))
    how = draw(st.sampled_from(["as is", "space", "flip", "cut", "ascii", "junk"]))
    if how == "space" and b"," in data:
        data = data.replace(b",", b", ", 1)
    elif how == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    elif how == "cut" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "ascii":
        with contextlib.suppress(TypeError, ValueError):
            data = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
    elif how == "junk":
        data = draw(st.binary(max_size=60))
    return data


@given(wire_bytes())
@settings(max_examples=1500, deadline=None)
def test_loads_canonical_gives_the_pure_value_or_the_pure_error(data: bytes) -> None:
    assert outcome(CODEC.loads_canonical, data) == outcome(canonical.pure_loads_canonical, data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1.5}',
        b'{"a":NaN}',
        b'{"a":-Infinity}',
        b'{"a":1e3}',
        b'{"a":-0}',
        b'{"a":"\\ud800"}',
        b'{"a":"\\u001f"}',
        b'{"a":"\\u001F"}',
        b'{"a":"\x7f"}',
        b'\xef\xbb\xbf{"a":1}',
        b'{"a":1,"a":1}',
        b'"\xff"',
        b"[" * 5000 + b"]" * 5000,
        '{"a":"网格"}'.encode(),
        '{"a":"网格"}'.encode("utf-16"),
    ],
)
def test_edge_bytes_are_judged_the_same(data: bytes) -> None:
    assert outcome(CODEC.loads_canonical, data) == outcome(canonical.pure_loads_canonical, data)


def test_every_shared_vector_passes_with_the_codec_line_for_line() -> None:
    runs = []
    for codec in (None, CODEC):
        buf = io.StringIO()
        before = canonical.get_codec()
        canonical.set_codec(codec)
        try:
            with contextlib.redirect_stdout(buf):
                failed = vectors_runner.main(str(ROOT))
        finally:
            canonical.set_codec(before)
        assert failed == 0
        runs.append(buf.getvalue())
    assert runs[0] == runs[1]
    assert runs[0].count(" ok") >= 20


def test_every_vector_payload_decodes_and_encodes_the_same() -> None:
    for fname in ("positive.json", "negative.json"):
        for v in json.loads((ROOT / "protocol/vectors" / fname).read_text("utf-8"))["vectors"]:
            if "data_hex" not in v:
                continue
            data = bytes.fromhex(v["data_hex"])
            got = outcome(CODEC.loads_canonical, data)
            assert got == outcome(canonical.pure_loads_canonical, data), v["name"]
            if got[0] == "ok":
                assert CODEC.dumps(got[1]) == canonical.pure_dumps(got[1]) == data, v["name"]


def test_installed_codec_serves_dumps_and_loads_canonical() -> None:
    with installed():
        assert canonical.get_codec() is CODEC
        assert (
            canonical.dumps({"b": [1, True, None], "a": "网"})
            == '{"a":"网","b":[1,true,null]}'.encode()
        )
        assert canonical.loads_canonical(b'{"a":1}') == {"a": 1}
