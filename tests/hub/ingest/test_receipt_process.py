"""The receipt helper process (hub.ingest.receipt_process): receipts read by the worker,
sealed and published by the helper on its own connection to a real Mosquitto, in order,
flushed at close; a helper that dies is replaced by the worker's own sealing, then restarted."""

from __future__ import annotations

import pytest

from hub.ingest import receipts as receipts_mod
from hub.ingest.receipt_process import BrokerParams, ReceiptProcess
from hub.ingest.receipts import Receipt, ReceiptSender
from hub.keys import HubKey
from hub.mqtt_messages import Outbound
from protocol import command, topics
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver


def _params(broker: Mosquitto) -> BrokerParams:
    assert broker.hub_account is not None
    user, password = broker.hub_account
    return BrokerParams(broker.host, broker.port, "test-rcpt", user, password, True, None)


def _seqs(wire: MqttObserver, dev: str, pk: bytes) -> list[int]:
    return [command.open_receipt(p, pk)["seq"] for p in wire.messages(topics.rcpt(dev))]


def _until_the_helper_takes_them(sender: ReceiptSender) -> None:
    """Receipts of another device until the helper said it is connected (before that they
    are sealed in the worker)."""
    seq = 0

    def ready() -> bool:
        nonlocal seq
        seq += 1
        sender.send([Receipt("hh-warmup", seq, {})], 1796000000)
        return sender.using_helper()

    wait_until("the helper connected", ready, timeout=30, interval=0.1)


def test_the_helper_publishes_signed_receipts_in_order_and_flushes_them_at_close(
    broker: Mosquitto, hub_key: HubKey
) -> None:
    wire = MqttObserver(broker, ["gl/v1/+/rcpt"]).start()
    local: list[Outbound] = []
    params = _params(broker)
    sender = ReceiptSender(local.extend, hub_key.seed, lambda: ReceiptProcess(params, hub_key.seed))
    try:
        _until_the_helper_takes_them(sender)
        for seq in range(1, 41):
            sender.send([Receipt(f"hh-r{d}", seq, {}) for d in range(25)], 1796000000 + seq)
        sender.send([Receipt("hh-r0", 41, {"ab" * 32: [3, 4]})], 1796000100)
    finally:
        sender.close(timeout=20)
    pk = hub_key.public_key
    try:
        wait_until("every receipt on the wire", lambda: len(_seqs(wire, "hh-r24", pk)) == 40
                   and len(_seqs(wire, "hh-r0", pk)) == 41, timeout=20)  # fmt: skip
        assert _seqs(wire, "hh-r0", pk) == list(range(1, 42))  # in the order given
        last = command.open_receipt(wire.messages(topics.rcpt("hh-r0"))[-1], pk)
        assert last["blobs"] == {"ab" * 32: [3, 4]} and last["ts"] == 1796000100
    finally:
        wire.stop()
    assert not [o for o in local if "hh-r" in o.topic]  # nothing of them went the fallback way


def test_a_dead_helper_is_replaced_by_sealing_here_and_started_again(
    broker: Mosquitto, hub_key: HubKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receipts_mod, "REST_S", 0.0)  # the next receipts start a new helper
    wire = MqttObserver(broker, ["gl/v1/+/rcpt"]).start()
    made: list[ReceiptProcess] = []
    local: list[Outbound] = []

    def helper() -> ReceiptProcess:
        made.append(ReceiptProcess(_params(broker), hub_key.seed))
        return made[-1]

    sender = ReceiptSender(local.extend, hub_key.seed, helper)
    pk = hub_key.public_key

    def dead() -> list[Outbound]:
        return [o for o in local if o.topic == topics.rcpt("hh-dead")]

    try:
        _until_the_helper_takes_them(sender)
        sender.send([Receipt("hh-dead", 1, {})], 1796000001)
        wait_until("the helper's receipt", lambda: _seqs(wire, "hh-dead", pk) == [1], timeout=20)
        made[0]._proc.kill()  # noqa: SLF001 - the helper dies (out of memory, killed)
        made[0]._proc.join(5)  # noqa: SLF001
        sender.send([Receipt("hh-dead", 2, {})], 1796000002)
        wait_until("the receipt sealed here", lambda: len(dead()) == 1, timeout=10)
        assert command.open_receipt(dead()[0].payload, pk)["seq"] == 2
        _until_the_helper_takes_them(sender)  # a new helper (REST_S 0), connected
        sender.send([Receipt("hh-dead", 3, {})], 1796000003)
        wait_until("a new helper's receipt", lambda: 3 in _seqs(wire, "hh-dead", pk), timeout=20)
        assert len(made) == 2 and len(dead()) == 1
    finally:
        sender.close(timeout=20)
        wire.stop()


def test_a_helper_the_broker_refuses_ends_and_the_receipts_are_sealed_here(
    broker: Mosquitto, hub_key: HubKey
) -> None:
    p = _params(broker)
    wrong = BrokerParams(p.host, p.port, p.client_id, p.username, "not-the-password", True, None)
    made: list[ReceiptProcess] = []

    def helper() -> ReceiptProcess:
        made.append(ReceiptProcess(wrong, hub_key.seed))
        return made[-1]

    local: list[Outbound] = []
    sender = ReceiptSender(local.extend, hub_key.seed, helper)
    try:
        seq = 0

        def sealed_here() -> bool:
            nonlocal seq
            seq += 1
            sender.send([Receipt("hh-refused", seq, {})], 1796000000 + seq)
            return bool(local)

        wait_until("a receipt sealed in the worker", sealed_here, timeout=30, interval=0.2)
        wait_until("the refused helper ended", lambda: made and not made[0].alive, timeout=30)
        assert made[0]._proc.exitcode == 2  # noqa: SLF001 - refused by the broker
        before = len(local)
        sealed_here()  # noticed gone: sealed here, and no new helper for REST_S
        wait_until("the next receipt sealed here", lambda: len(local) > before, timeout=10)
        assert len(made) == 1
        assert 1 <= command.open_receipt(local[-1].payload, hub_key.public_key)["seq"] <= seq
    finally:
        sender.close(timeout=20)
