"""Envelope, command, receipt, state and topic rules beyond the shared vectors."""

from __future__ import annotations

import pytest

from protocol import command, crypto, envelope, topics
from protocol.errors import (
    DeviceIdError,
    ExpiredError,
    MalformedError,
    ReplayError,
    SignatureError,
    SkewError,
    WrongTargetError,
)
from protocol.limits import GENESIS, MAX_BLOBS

SEED = b"\x11" * 32
HUB = b"\x22" * 32


def _sealed(seq=1, prev=GENESIS, **body):
    return envelope.seal(envelope.build("hh-1", seq, 1_000, "report", body, (), prev), SEED)


def test_hash_chain_links_envelopes():
    first = _sealed(1, text="a")
    second = envelope.open(
        _sealed(2, prev=envelope.digest(first), text="b"), crypto.public_key(SEED)
    )
    assert second["prev"] == envelope.digest(first)
    envelope.follows(second, 1)
    with pytest.raises(ReplayError):
        envelope.follows(second, 2)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", 0),
        ("seq", True),
        ("ts", -1),
        ("kind", "Report"),
        ("prev", "abc"),
        ("blobs", [{"sha256": "0" * 64, "size": 1}]),
        ("body", []),
    ],
)
def test_build_rejects_bad_fields(field, value):
    args = {
        "dev": "hh-1",
        "seq": 1,
        "ts": 1,
        "kind": "report",
        "body": {},
        "blobs": [],
        "prev": GENESIS,
    }
    args[field] = value
    with pytest.raises(MalformedError):
        envelope.build(**args)


def test_too_many_blobs():
    blob = envelope.blob_ref("a" * 64, 10, "image/jpeg")
    with pytest.raises(MalformedError):
        envelope.build("hh-1", 1, 1, "report", {}, [blob] * (MAX_BLOBS + 1))


def test_skew_and_historical():
    env = envelope.parse(_sealed(text="x"))
    envelope.check_skew(env, 1_000 - 300)
    with pytest.raises(SkewError):
        envelope.check_skew(env, 1_000 - 301)
    assert not envelope.is_historical(env, 1_000 + 120)
    assert envelope.is_historical(env, 1_000 + 121)


def test_historical_flag_is_signed_and_only_true():
    live = envelope.build("hh-1", 1, 1_000, "report", {})
    assert "hist" not in live  # a live envelope has no key: one canonical form of each
    hist = envelope.build("hh-1", 1, 1_000, "report", {}, hist=True)
    sealed = envelope.seal(hist, SEED)
    assert b',"hist":true,' in sealed
    opened = envelope.open(sealed, crypto.public_key(SEED))
    assert opened["hist"] is True
    assert envelope.is_historical(opened, 1_000)  # on time, still historical by its flag
    assert not envelope.is_historical(envelope.parse(envelope.seal(live, SEED)), 1_000)
    with pytest.raises(SignatureError):  # the flag is covered by the signature
        envelope.open(sealed.replace(b',"hist":true', b""), crypto.public_key(SEED))
    for bad in (1, 0, None, "yes"):
        with pytest.raises(MalformedError):
            envelope.build("hh-1", 1, 1_000, "report", {}, hist=bad)


def test_command_guard_order_of_checks():
    hub_pub = crypto.public_key(HUB)
    guard = command.CommandGuard(hub_pub, "hh-1", last_cseq=4)
    ok = command.seal_command("hh-1", 5, "c5", "ping", {}, 100, 200, HUB)
    assert guard.check(ok, 150)["id"] == "c5"
    assert guard.last_cseq == 5
    with pytest.raises(ReplayError) as replay:
        guard.check(ok, 150)
    assert replay.value.cmd["id"] == "c5"
    with pytest.raises(ExpiredError):
        guard.check(command.seal_command("hh-1", 6, "c6", "ping", {}, 100, 200, HUB), 201)
    with pytest.raises(WrongTargetError):
        guard.check(command.seal_command("hh-2", 6, "c6", "ping", {}, 100, 200, HUB), 150)
    with pytest.raises(SignatureError) as forged:
        guard.check(command.seal_command("hh-1", 6, "c6", "reboot", {}, 100, 200, SEED), 150)
    assert forged.value.cmd["op"] == "reboot"
    assert guard.last_cseq == 5


def test_ack_body_names_the_command_even_when_refused():
    assert command.ack_body({"id": "c1", "cseq": 3}, "refused", "expired") == {
        "id": "c1",
        "cseq": 3,
        "status": "refused",
        "detail": "expired",
    }
    assert command.ack_body(None, "refused", "malformed")["id"] is None
    with pytest.raises(ValueError):
        command.ack_body(None, "maybe")


def test_receipt_and_state_round_trip():
    hub_pub = crypto.public_key(HUB)
    rcpt = command.open_receipt(command.seal_receipt("hh-1", 7, {"ab" * 32: [1]}, 5, HUB), hub_pub)
    assert rcpt["seq"] == 7
    with pytest.raises(SignatureError):
        command.open_receipt(command.seal_receipt("hh-1", 7, {}, 5, SEED), hub_pub)
    will = command.open_state(
        command.seal_state("hh-1", False, 3, 9, SEED), crypto.public_key(SEED)
    )
    assert (will["online"], will["session"]) == (False, 3)
    assert "lists" not in will


def test_birth_carries_the_list_version():
    pub = crypto.public_key(SEED)
    birth = command.open_state(command.seal_state("gate-1", True, 3, 9, SEED, "0.2", 0), pub)
    assert birth["lists"] == 0  # version 0: "no list", still reported
    assert (
        command.open_state(command.seal_state("gate-1", True, 3, 9, SEED, lists=42), pub)["lists"]
        == 42
    )
    for bad in (-1, "42", True, 1.5, 1 << 53):
        with pytest.raises(MalformedError):
            command.seal_state("gate-1", True, 3, 9, SEED, lists=bad)


def test_topics():
    assert topics.evt("hh-1", "report") == "gl/v1/hh-1/evt/report"
    assert topics.parse("gl/v1/hh-1/evt/report") == ("hh-1", "evt", "report")
    assert topics.parse("gl/v1/hh-1/blob") == ("hh-1", "blob", None)
    for bad in ("a/b", "hub", "", "x" * 65, "dev#1"):
        with pytest.raises(DeviceIdError):
            topics.validate_device_id(bad)
    with pytest.raises(MalformedError):
        topics.parse("gl/v2/hh-1/blob")


def test_an_empty_blob_must_have_the_empty_hash():
    from protocol.errors import BlobError

    assert envelope.blob_ref(envelope.EMPTY_SHA256, 0, "text/plain")["size"] == 0
    with pytest.raises(BlobError):
        envelope.blob_ref("ab" * 32, 0, "image/jpeg")


def test_birth_announces_the_highest_seq():
    pub = crypto.public_key(SEED)
    birth = command.open_state(command.seal_state("hh-1", True, 3, 9, SEED, "0.1", seq=0), pub)
    assert birth["seq"] == 0  # a fresh device: nothing assigned yet
    assert "seq" not in command.open_state(command.seal_state("hh-1", False, 3, 9, SEED), pub)
    top = (1 << 53) - 1
    assert (
        command.open_state(command.seal_state("hh-1", True, 3, 9, SEED, seq=top), pub)["seq"] == top
    )
    for bad in (-1, "41", True, 1.5, 1 << 53):
        with pytest.raises(MalformedError):
            command.seal_state("hh-1", True, 3, 9, SEED, seq=bad)
