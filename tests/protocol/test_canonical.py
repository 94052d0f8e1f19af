from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import canonical
from protocol.errors import MalformedError, NonCanonicalError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@given(json_values)
def test_matches_cpython_sorted_compact_utf8(value):
    want = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical.dumps(value) == want.encode("utf-8")


@given(json_values)
def test_round_trip_is_exact(value):
    data = canonical.dumps(value)
    assert canonical.loads_canonical(data) == value


def test_chinese_text_round_trips_as_utf8():
    data = canonical.dumps({"text": "网格员上报：东门口占道经营"})
    assert "网格员".encode() in data
    assert canonical.loads_canonical(data)["text"] == "网格员上报：东门口占道经营"


@pytest.mark.parametrize(
    "data",
    [b'{"b":1,"a":2}', b'{"a": 1}', b'{"a":"\\u4e2d"}', b'{"a":1,"a":1}', b"[1,2] "],
)
def test_non_canonical_forms_are_rejected(data):
    with pytest.raises(NonCanonicalError):
        canonical.loads_canonical(data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1.5}',
        b"{",
        b"\xff\xfe",
        b'{"a":1e3}',
        b'{"a":"\\ud800"}',
        b"[" * 5000 + b"]" * 5000,
        b"[" * 40 + b"]" * 40,
    ],
)
def test_malformed_input_is_rejected(data):
    with pytest.raises(MalformedError):
        canonical.loads_canonical(data)


def test_floats_cannot_be_encoded():
    with pytest.raises(MalformedError, match="floats"):
        canonical.dumps({"lat": 30.27})
