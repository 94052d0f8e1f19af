"""The ingest peers of ``bench.ingest_peers`` (naive, tuned, Node-RED) on small streams through a
real locked-down Mosquitto: every valid event stored byte for byte, no forgery, no duplicate.

Node-RED is installed from the npm registry on first use (``var/nodered/``, a few minutes: its
sqlite3 module is compiled), so its tests carry a longer timeout; later runs use the cache.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bench.ingest_peers import nodered
from bench.ingest_peers.measure import QUIET, measure
from bench.ingest_peers.peer_common import Rejected, check, row
from bench.ingest_peers.peers import FACTORIES
from bench.ingest_peers.stream import (
    Message,
    Outcome,
    Publisher,
    Stream,
    Watcher,
    make_stream,
    verdict,
)
from protocol import topics
from protocol.crypto import new_seed, public_key
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until

INSTALL = pytest.mark.timeout(nodered.INSTALL_TIMEOUT_S + 300)
PEERS = ["naive", "tuned", pytest.param("nodered", marks=INSTALL)]


def _keys(stream: Stream) -> dict[str, Ed25519PublicKey]:
    return {dev: Ed25519PublicKey.from_public_bytes(pk) for dev, pk in stream.keys.items()}


def _assert_all_stored(out: Outcome, stream: Stream) -> None:
    assert (out.stored, out.lost, out.forged, out.duplicates) == (len(stream.valid), 0, 0, 0), (
        out.as_json()
    )


def _non_canonical(stream: Stream) -> Stream:
    """The stream with, before every forgery, a validly signed envelope in a non-canonical
    encoding (spaces after separators): the signature covers the canonical form, so only a
    peer that checks the received bytes are canonical rejects it."""
    messages: list[Message] = []
    for m in stream.messages:
        if m.key is None:
            real = json.loads(m.payload)  # the forgery's (device, seq); take the real bytes
            key = (real["dev"], real["seq"])
            loose = json.dumps(json.loads(stream.valid[key]), sort_keys=True, ensure_ascii=False)
            assert loose.encode() != stream.valid[key]
            messages.append(Message(m.topic, loose.encode(), None))
        messages.append(m)
    return Stream(keys=stream.keys, messages=messages, valid=stream.valid)


def test_check_accepts_the_valid_and_rejects_forgeries() -> None:
    stream = make_stream(3, 60)
    keys = _keys(stream)
    assert stream.forged > 0
    for m in stream.messages:
        if m.key is None:
            with pytest.raises(Rejected, match="bad signature"):
                check(m.topic, m.payload, keys)
        else:
            env = check(m.topic, m.payload, keys)
            assert (env["dev"], env["seq"]) == m.key
            assert row(env, m.payload)[5] == stream.valid[m.key]
    valid = next(m for m in stream.messages if m.key is not None)
    other = next(dev for dev in stream.keys if dev != valid.key[0])
    with pytest.raises(Rejected, match="topic"):
        check(topics.evt(other, "track"), valid.payload, keys)
    with pytest.raises(Rejected, match="unknown device"):
        check(valid.topic, valid.payload, {})
    stranger = Ed25519PublicKey.from_public_bytes(bytes(public_key(new_seed())))
    with pytest.raises(Rejected, match="bad signature"):
        check(valid.topic, valid.payload, {valid.key[0]: stranger})


@pytest.mark.parametrize("peer", PEERS)
def test_peer_stores_the_stream(peer: str) -> None:
    stream = make_stream(5, 200)
    assert stream.forged == 10
    _assert_all_stored(measure(FACTORIES[peer], stream, settle_s=20), stream)


@pytest.mark.parametrize("peer", PEERS)
def test_peer_rejects_non_canonical_bytes(peer: str) -> None:
    stream = _non_canonical(make_stream(4, 100))
    assert stream.forged == 10  # 5 forgeries, 5 non-canonical copies
    _assert_all_stored(measure(FACTORIES[peer], stream, settle_s=20), stream)


@pytest.mark.parametrize("peer", ["naive", "tuned"])
def test_python_peer_killed_mid_stream_loses_nothing(peer: str) -> None:
    """SIGKILL while the stream arrives, then the same peer (same client id, persistent
    session) again: what was acknowledged was committed, the rest is redelivered."""
    stream = make_stream(5, 1000)
    with tempfile.TemporaryDirectory(prefix="gl-peer-kill-") as tmp:
        root = Path(tmp)
        with Mosquitto(workdir=root / "mq", log_types=QUIET) as broker:
            (root / "sys").mkdir()
            system = FACTORIES[peer](root / "sys", broker, stream).start()
            try:
                # paced (about 2.5 s for the stream), so the kill lands while it arrives even
                # when the peer keeps up with a flood faster than the watcher polls
                publisher = Publisher(
                    broker.host, broker.port, broker.observer_account, stream.messages, 400.0
                )
                watcher = Watcher(system.db_path, system.query).start()
                publisher.go()
                wait_until("100 rows stored", lambda: len(watcher.seen) >= 100, timeout=30)
                assert system.proc is not None
                system.proc.kill()
                system.proc.wait()
                at_kill = len(watcher.seen)
                assert at_kill < len(stream.valid)
                sent, _acked, _cpu = publisher.result()
                system.stop()
                system.start()
                watcher.wait_for(set(stream.valid), 30)
                watcher.stop()
                out = verdict(system.name, stream, watcher, sent, None)
            finally:
                system.stop()
    _assert_all_stored(out, stream)
