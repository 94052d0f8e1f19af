"""The locked-down broker on real Mosquitto (2.0.11, dynamic-security plugin), as an attacker
with one device's account would try it: nothing but its own topics, no share group, no other
client id, and out at once when disabled. docs/broker-security.md.

Every test runs three times (the ``target`` fixture): on the plain listener, on the TLS
listener, and on the listener that requires client certificates, where every client (the
intruders too) shows a certificate from the deployment's CA: a valid certificate grants
nothing, the account and its ACL decide. Each connection is checked to have come in on the
target's listener (the broker's log) and, over TLS, to be a TLS socket.

"The hub" here is a client with the hub's account and the ingest worker's own subscriptions
(``$share/gridlink-ingest/...`` and the plain state filters), so what it receives is what
the hub's workers would.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator

import pytest

from hub.ingest.worker import PLAIN_FILTERS, SHARE_GROUP, SHARED_FILTERS
from tests.provisioning.conftest import Target
from tests.provisioning.mqtt_client import Client
from tests.support.waiting import wait_until

A, B, C = "hh-acl-a", "hh-acl-b", "gt-acl-c"
DENIED = "Not authorized"


@pytest.fixture
def clients(target: Target) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(account: tuple[str, str] | None, client_id: str, **kw: object) -> Client:
        # on "mtls" the client's certificate is its account's (or its client id's)
        shown = target.for_client(account[0] if account else client_id or "anonymous")
        c = Client(shown, account, client_id, **kw)  # type: ignore[arg-type]
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


@pytest.fixture
def hub(target: Target, clients: Callable[..., Client]) -> Client:
    assert target.broker.hub_account
    h = clients(target.broker.hub_account, "gridlink-acl-0")
    assert h.connect() == "Success"
    on_the_listener(target, h)
    for f in SHARED_FILTERS:
        assert h.subscribe(f"$share/{SHARE_GROUP}/{f}") == "Granted QoS 1"
    for f in PLAIN_FILTERS:
        assert h.subscribe(f) == "Granted QoS 1"
    return h


def device(target: Target, clients: Callable[..., Client], dev: str, **kw: object) -> Client:
    c = clients(target.broker.device_account(dev), dev, **kw)
    assert c.connect() == "Success"
    on_the_listener(target, c)
    return c


def on_the_listener(target: Target, c: Client) -> None:
    """``c`` came in on the target's listener, over TLS when the target is."""
    sock = c.c.socket()
    assert sock is not None
    assert isinstance(sock, ssl.SSLSocket) == (target.tls is not None), target.listener
    line = f"New connection from {target.host}:{sock.getsockname()[1]} on port {target.port}."
    wait_until(f"{line!r} in the broker's log", lambda: line in target.broker.log(), 5)


def admin(target: Target):  # the hub's broker_admin, on the target's listener too
    return target.broker.admin(None if target.listener == "tcp" else target.listener)


def test_a_device_publishes_only_on_its_own_topics(target, clients, hub):
    a = device(target, clients, A)
    forged = [
        f"gl/v1/{B}/evt/report",
        f"gl/v1/{B}/blob",
        f"gl/v1/{B}/ack",
        f"gl/v1/{B}/state",
        f"gl/v1/{B}/cmd",
        f"gl/v1/{B}/rcpt",
        f"gl/v1/{A}/cmd",  # not even a command to itself: only the hub sends commands
        f"gl/v1/{A}/rcpt",
        "gl/v1/hub/state",
        "$CONTROL/dynamic-security/v1",
        "other/topic",
    ]
    for topic in forged:
        assert a.publish(topic, b"forged") == DENIED, topic
    own = [f"gl/v1/{A}/evt/report", f"gl/v1/{A}/blob", f"gl/v1/{A}/ack", f"gl/v1/{A}/state"]
    for topic in own:
        assert a.publish(topic, b"mine") == "Success", topic
    wait_until("the hub got A's own messages", lambda: len(hub.received()) >= len(own))
    time.sleep(0.2)  # a denied publish is dropped at once; give a stray one time to show up
    assert sorted(t for t, _ in hub.received()) == sorted(own)
    assert all(p == b"mine" for _, p in hub.received())


def test_a_device_cannot_make_itself_an_administrator(target, clients):
    a = device(target, clients, A)
    cmd = b'{"commands":[{"command":"createClient","username":"evil","password":"pw"}]}'
    assert a.publish("$CONTROL/dynamic-security/v1", cmd) == DENIED
    evil = clients(("evil", "pw"), "evil")
    assert evil.connect() == DENIED


def test_a_device_subscribes_only_to_its_own_cmd_rcpt_and_the_hub_state(target, clients, hub):
    a = device(target, clients, A)
    for topic in (
        f"gl/v1/{B}/cmd",
        f"gl/v1/{B}/rcpt",
        f"gl/v1/{B}/evt/+",
        f"gl/v1/{A}/evt/+",  # not even its own uplink: it must not read back what others forge
        "#",
        "gl/v1/#",
        "gl/v1/+/evt/#",
        "gl/v1/+/cmd",
        f"$share/{SHARE_GROUP}/gl/v1/+/evt/+",
        f"$share/{SHARE_GROUP}/gl/v1/{A}/cmd",
        "$CONTROL/dynamic-security/v1/response",
        "$SYS/#",
    ):
        assert a.subscribe(topic) == DENIED, topic
    for topic in (f"gl/v1/{A}/cmd", f"gl/v1/{A}/rcpt", "gl/v1/hub/state"):
        assert a.subscribe(topic) == "Granted QoS 1", topic
    # nobody may hold B's command topic: the broker says so in its PUBACK
    assert hub.publish(f"gl/v1/{B}/cmd", b"for B") == "No matching subscribers"
    assert hub.publish(f"gl/v1/{A}/cmd", b"for A") == "Success"
    wait_until("A's command delivered", lambda: a.received(f"gl/v1/{A}/cmd"))
    assert a.received() == [(f"gl/v1/{A}/cmd", b"for A")]


def test_the_hub_gets_every_message_while_a_device_tries_to_join_its_share_group(
    target, clients, hub
):
    """A shared subscriber that is picked and then denied delivery would lose that message
    for the whole group: the broker must refuse the join itself (it checks the subscription
    with its $share/<group>/ prefix, which no device role grants)."""
    c = device(target, clients, C)
    intruders = [device(target, clients, dev) for dev in (A, B)]
    for i, intruder in enumerate(intruders):
        for f in SHARED_FILTERS:
            assert intruder.subscribe(f"$share/{SHARE_GROUP}/{f}") == DENIED
        assert intruder.subscribe(f"$share/{SHARE_GROUP}/gl/v1/{C}/evt/+") == DENIED
        assert intruder.subscribe(f"$share/g{i}/gl/v1/+/evt/+") == DENIED
    n = 300
    for i in range(n):
        c.c.publish(f"gl/v1/{C}/evt/pass", b"%04d" % i, qos=1)
    wait_until(f"the hub got all {n}", lambda: len(hub.received(f"gl/v1/{C}/evt/+")) >= n)
    got = sorted(p for _, p in hub.received(f"gl/v1/{C}/evt/+"))
    assert got == [b"%04d" % i for i in range(n)]
    assert all(not i.messages for i in intruders)


def test_nobody_takes_over_a_devices_client_id(target, clients, hub):
    b = device(target, clients, B, will=(f"gl/v1/{B}/state", b"offline"))
    # A's own account, an unknown account, a wrong password, anonymous: all with B's id
    a_user, a_password = target.broker.device_account(A)
    b_user, b_password = target.broker.device_account(B)
    for account in (
        (a_user, a_password),
        ("nobody", "secret"),
        (b_user, b_password + "x"),
        (b_user, a_password),
        None,
    ):
        intruder = clients(account, B)
        assert intruder.connect() == DENIED, account
    time.sleep(0.3)
    assert b.connected.is_set() and not b.disconnects
    assert b.publish(f"gl/v1/{B}/evt/heartbeat", b"still here") == "Success"
    wait_until("B's heartbeat at the hub", lambda: hub.received(f"gl/v1/{B}/evt/+"))
    assert not hub.received(f"gl/v1/{B}/state")  # no will: the hub never saw B offline


def test_an_account_connects_only_with_its_own_client_id(target, clients):
    a = clients(target.broker.device_account(A), f"{A}-2")
    assert a.connect() == DENIED
    empty = clients(target.broker.device_account(A), "")  # a broker-assigned id
    assert empty.connect() == DENIED


def test_unknown_accounts_and_wrong_passwords_are_refused(target, clients):
    user, password = target.broker.device_account(A)
    for account in ((user, password + "x"), (user, ""), ("nobody", password), None):
        assert clients(account, A).connect() == DENIED, account
    assert clients((user, password), A).connect() == "Success"


def test_a_disabled_account_is_dropped_at_once_and_refused(target, clients, hub):
    a = device(target, clients, A, will=(f"gl/v1/{A}/state", b"offline"))
    hub_admin = admin(target)
    t0 = time.monotonic()
    assert hub_admin.disable_device(A) is True
    wait_until("A dropped", lambda: a.disconnects, 5)
    dropped_s = a.disconnects[0][0] - t0
    again = clients(target.broker.device_account(A), A)
    assert again.connect() == DENIED
    refused_s = time.monotonic() - t0
    print(
        f"disable ({target.listener}): dropped after {dropped_s * 1e3:.0f} ms, "
        f"refused after {refused_s * 1e3:.0f} ms"
    )
    assert refused_s < 5  # the bound; measured ~50-100 ms on the shared CI box
    # an administrative kick discards the will (Mosquitto 2.0.11): the hub marks a revoked
    # device offline itself, it gets no will
    time.sleep(0.3)
    assert not hub.received(f"gl/v1/{A}/state")
    # the other devices are untouched
    assert device(target, clients, B).connected.is_set()
