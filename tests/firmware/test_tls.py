"""TLS on the firmware (MicroPython unix port, mbedTLS, DER only) against the locked-down
Mosquitto's TLS listeners (``Mosquitto(tls=pki)``: every client logs in with its account too):
the CA and the broker's name are verified, with and without a client certificate; a broker that
requires one refuses a device without it or with one from another CA; a device pointed at a
broker whose certificate it cannot verify keeps retrying with backoff (mbedTLS's ValueError is a
link failure, not a crash); the config refuses PEM, missing files and half pairs; a handheld
at its stated 192K and a gate at 512K store their events at the
hub (over TLS too, with its client certificate).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.keys import load_or_create
from simulator import Fleet, scenarios
from simulator.fleet import GATE_HEAPSIZE
from tests.firmware.scripts import KEY
from tests.support.hub import Hub, hub_settings, running_hub
from tests.support.micropython import run_micropython
from tests.support.mosquitto import Mosquitto
from tests.support.tls import Pki
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver

GRID = "33010200100101"

PROBE = """
import asyncio, sys, json, gc
import mqtt
from device import tls_context
host, port, ca, cert, key, name, user, password = sys.argv[1:9]
b = {"host": host, "ca": ca, "cert": cert or None, "key": key or None, "server_name": name or None}

async def main():
    gc.collect()
    before = gc.mem_alloc()
    c = mqtt.MQTTClient("tls-probe", host, int(port), user=user, password=password,
                        keepalive=10, ssl=tls_context(b))
    try:
        await c.connect(clean_session=True)
        await c.publish("gl/v1/tls-probe/evt/x", b"over tls", qos=1)
    except Exception as e:
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, str(e).strip())}))
        return
    gc.collect()
    print(json.dumps({"ok": True, "held": gc.mem_alloc() - before}))
    await c.disconnect()

asyncio.run(main())
"""


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.create(tmp_path / "pki")


@pytest.fixture
def broker(tmp_path: Path, pki: Pki) -> Iterator[Mosquitto]:
    """The locked-down broker: its plain listener (the test's observer, the hub's admin calls),
    ``tls_port`` (TLS, no client certificate asked) and ``mtls_port`` (require_certificate)."""
    with Mosquitto(workdir=tmp_path / "broker", persistence=True, tls=pki) as mosq:
        yield mosq


def _probe(
    broker: Mosquitto,
    port: int | None,
    pki: Pki,
    cert: dict[str, Path] | None = None,
    name: str = "",
    account: tuple[str, str] | None = None,
) -> dict:
    """Connect and publish once as the device ``tls-probe`` (its own account unless
    ``account``) over TLS."""
    assert port is not None
    args = ["127.0.0.1", str(port), str(pki.ca_der)]
    args += [str(cert["cert_der"]), str(cert["key_der"])] if cert else ["", ""]
    args += [name, *(account or broker.device_account("tls-probe"))]
    out = run_micropython(PROBE, heapsize="192K", args=args, timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_firmware_verifies_the_ca_and_the_broker_name(
    broker: Mosquitto, pki: Pki, tmp_path: Path
) -> None:
    observer = MqttObserver(broker, ("gl/v1/#",)).start()
    try:
        assert _probe(broker, broker.tls_port, pki)["ok"]  # 127.0.0.1 is among the SANs
        # the name the certificate carries, though the device dials an IP address
        assert _probe(broker, broker.tls_port, pki, name="broker.gridlink.test")["ok"]
        observer.wait(
            "both publishes over TLS", lambda: len(observer.matching("gl/v1/+/evt/x")) >= 2
        )
        assert {m.payload for m in observer.matching("gl/v1/+/evt/x")} == {b"over tls"}
    finally:
        observer.stop()
    # mbedTLS's ValueError comes out as mqtt.TLSError, an OSError: the link retries it
    wrong = _probe(broker, broker.tls_port, pki, name="other.gridlink.test")
    assert wrong["error"].startswith("TLSError: "), wrong
    assert "Common Name (CN) does not match" in wrong["error"], wrong
    # a broker certificate from another CA (an impostor) is refused
    other = Pki.create(tmp_path / "other", name="Impostor CA")
    impostor = _probe(broker, broker.tls_port, other)
    assert impostor["error"] == (
        "TLSError: The certificate is not correctly signed by the trusted CA"
    ), impostor
    # TLS is the transport, not the identity: a wrong password is refused on the TLS listener
    user, password = broker.device_account("tls-probe")
    refused = _probe(broker, broker.tls_port, pki, account=(user, password + "x"))
    # CONNACK return code 5, not authorised
    assert refused["error"].startswith("MQTTError: [Errno 5]"), refused


def test_client_certificates_when_the_broker_requires_them(
    broker: Mosquitto, pki: Pki, tmp_path: Path
) -> None:
    ok = _probe(broker, broker.mtls_port, pki, broker.client_cert("tls-probe"))
    assert ok["ok"], ok
    # a TLS connection (context, session, record buffers) held on the heap, after a collection
    print(f"\nTLS connection held on the MicroPython heap: {ok['held']} bytes")
    assert _probe(broker, broker.mtls_port, pki)["error"].startswith("OSError")  # no certificate
    stranger = Pki.create(tmp_path / "other", name="Other CA").client("tls-probe")
    assert _probe(broker, broker.mtls_port, pki, stranger)["error"].startswith("OSError")
    log = broker.log()
    assert "peer did not return a certificate" in log
    assert "certificate verify failed" in log


def test_a_device_that_cannot_verify_the_broker_keeps_retrying(tmp_path: Path, pki: Pki) -> None:
    """The broker shows a certificate from another CA: the device's link logs each refused
    handshake and backs off (mbedTLS raises ValueError; the link task must not die of it).
    When the broker's certificate is put right, the same process connects and publishes its
    birth."""
    impostor = Pki.create(tmp_path / "impostor", name="Impostor CA")
    with Mosquitto(workdir=tmp_path / "broker", tls=impostor) as broker:
        assert broker.tls_port
        fleet = Fleet(
            "127.0.0.1", broker.tls_port, root=tmp_path / "fleet", accounts=broker.device_account
        )
        try:
            dev = fleet.add_handheld(
                "hh-retry", GRID, scenario=[{"at": 3600, "do": "end"}],
                heapsize=HANDHELD_TLS_HEAP, broker={"tls": True, "ca": str(pki.ca_der)},
            )  # fmt: skip
            dev.start()

            def refusals() -> int:
                untrusted = "link down: TLSError('The certificate is not correctly signed by"
                return sum(untrusted in line for line in dev.log().splitlines())

            wait_until("5 refused attempts", lambda: refusals() >= 5, 60, detail=dev.log)
            assert dev.running, dev.log()[-3000:]
            assert "Traceback" not in dev.log()
            broker.pki = pki  # the broker's own certificate (the device's CA) from now on
            broker.restart()
            with MqttObserver(broker, ("gl/v1/hh-retry/state",)) as wire:
                wire.wait("its birth", lambda: wire.matching("gl/v1/hh-retry/state"), 30)
            assert dev.running and dev.starts == 1
            assert "up 127.0.0.1:%d" % broker.tls_port in dev.log()
        finally:
            fleet.cleanup()


# the config goes in a file: an argv string over 255 bytes crashes the unix port at the next
# import ("FATAL: uncaught NLR", MicroPython 1.29 preview)
CONFIG = """
import sys
import config_load
try:
    config_load.load(sys.argv[1])
    print("ok")
except ValueError as e:
    print(e)
"""


def test_the_config_checks_the_tls_files(pki: Pki, tmp_path: Path) -> None:
    cert = pki.client("hh-cfg")
    base = {"device_id": "hh-cfg", "key": KEY, "hub_key": "00" * 32, "grid": GRID}

    def load(**broker: object) -> str:
        return _load(dict(base, broker={"host": "127.0.0.1", "tls": True, **broker}))

    def _load(cfg: dict) -> str:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(cfg))
        return run_micropython(CONFIG, args=[str(path)], check=True).stdout.strip()

    der = {"ca": str(pki.ca_der), "cert": str(cert["cert_der"]), "key": str(cert["key_der"])}
    assert load(**der) == "ok"
    assert load(ca=str(pki.ca_der), server_name="broker.gridlink.test") == "ok"
    assert load() == "config broker.ca: required with tls (the CA certificate, DER)"
    assert load(ca=str(pki.ca_pem)) == (
        f"config broker.ca: {pki.ca_pem} is not DER (mbedTLS reads DER only)"
    )
    assert load(**dict(der, key=str(cert["key_pem"]))) == (
        f"config broker.key: {cert['key_pem']} is not DER (mbedTLS reads DER only)"
    )
    assert (
        load(ca=str(tmp_path / "nope.der")) == f"config broker.ca: cannot read {tmp_path}/nope.der"
    )
    assert load(ca=str(pki.ca_der), cert=der["cert"]) == (
        "config broker.cert and broker.key: both or neither"
    )
    assert load(ca=str(pki.ca_der), server_name="") == (
        "config broker.server_name: want the broker's certificate name"
    )
    tls_yes = dict(base, broker={"host": "127.0.0.1", "tls": "yes"})
    assert _load(tls_yes) == "config broker.tls: want true or false"


# --- the whole device over TLS, at the hub ---------------------------------------------------


@pytest.fixture
def tls_hub(tmp_path: Path, broker: Mosquitto) -> Iterator[Hub]:
    """The hub as deployed, its ingest worker (and the broker administration that creates the
    devices' accounts at registration) on the broker's client-certificate listener."""
    with running_hub(hub_settings(tmp_path, broker, tls="mtls")) as hub:
        assert hub.ingest is not None and hub.ingest.broker_connected
        yield hub
    assert f"on port {broker.mtls_port}" in broker.log()


@pytest.fixture
def tls_fleet(tmp_path: Path, broker: Mosquitto, tls_hub: Hub) -> Iterator[Fleet]:
    """Its devices get their broker accounts from the hub at registration (Hub.register)."""
    key = load_or_create(tls_hub.settings.hub_key_path)
    assert broker.mtls_port
    fleet = Fleet("127.0.0.1", broker.mtls_port, root=tmp_path / "fleet", hub_seed=key.seed)
    yield fleet
    fleet.cleanup()


def _tls_broker_cfg(fleet: Fleet, broker: Mosquitto, device_id: str, **extra: object) -> dict:
    assert broker.pki
    cert = broker.client_cert(device_id)
    account = fleet.accounts(device_id) if fleet.accounts else None
    login = {"user": account[0], "password": account[1]} if account else {}
    return {  # whole: Fleet.add_gate replaces the broker dict
        **login,
        "host": fleet.broker_host,
        "port": fleet.broker_port,
        "keepalive": 30,
        "tls": True,
        "ca": str(broker.pki.ca_der),
        "cert": str(cert["cert_der"]),
        "key": str(cert["key_der"]),
        **extra,
    }


_HEAP = re.compile(r"heap peak=-?\d+ hwm=(\d+) free=(\d+) total=(\d+)")
# The handheld's heap over TLS with a client certificate (docs/tls.md, "Heap"): its stated 192K,
# like every handheld (test_tls_heap.py asserts the margin).
HANDHELD_TLS_HEAP = "192K"


def test_a_handheld_stores_a_report_with_a_60kb_photo_over_tls(
    broker: Mosquitto, tls_hub: Hub, tls_fleet: Fleet
) -> None:
    dev = tls_fleet.add_handheld(
        "hh-tls",
        GRID,
        scenario=scenarios.patrol(reports=1, every_s=0.5, photo_bytes=60_000, audio_s=1),
        heapsize=HANDHELD_TLS_HEAP,
        broker=_tls_broker_cfg(tls_fleet, broker, "hh-tls", server_name="broker.gridlink.test"),
    )
    tls_hub.register(dev)  # its account, made by the hub, goes into its config
    assert dev.config["broker"]["user"] == "hh-tls" and dev.config["broker"]["tls"] is True
    dev.start()
    assert dev.wait(120) == 0, dev.log()[-3000:]
    (report,) = wait_until("the report stored", lambda: tls_hub.events("hh-tls", "report"), 30)
    assert report["blobs"][0]["size"] == 60_000
    for blob in report["blobs"]:
        wait_until("its media complete", lambda b=blob: tls_hub.blob_complete(b["sha256"]), 30)
    tls_hub.assert_chain("hh-tls", dev.state()["seq"])
    assert tls_hub.errors() == {}
    hwm, free, total = map(int, _HEAP.findall(dev.log())[-1])
    assert total <= int(HANDHELD_TLS_HEAP[:-1]) * 1024 and hwm < total
    print(f"\nhandheld over TLS at {HANDHELD_TLS_HEAP}: hwm={hwm} free={free} total={total}")


@pytest.mark.slow
def test_a_gate_at_512k_runs_its_rush_over_tls(tmp_path: Path, broker: Mosquitto) -> None:
    """The gate's heap with TLS on the broker alone (no hub: trims on the PUBACK, as
    test_gate_heap.py runs it); the broker saw every envelope come in over TLS."""
    comm = scenarios.community(seed=1)
    rush, _ = scenarios.morning_rush(comm, "face", events=60, duration_s=20)
    assert broker.mtls_port
    fleet = Fleet(
        "127.0.0.1", broker.mtls_port, root=tmp_path / "fleet", accounts=broker.device_account
    )
    observer = MqttObserver(broker, ("gl/v1/gt-tls/evt/#",)).start()
    try:
        dev = fleet.add_gate(
            "gt-tls", "face", GRID, scenario=rush, people=comm["people"],
            templates=comm["templates"], lists=comm["entries"], heartbeat_s=0,
            broker=_tls_broker_cfg(fleet, broker, "gt-tls"),
        )  # fmt: skip
        assert dev.heapsize == GATE_HEAPSIZE
        dev.start()
        rc = dev.wait(300)
        log = dev.log()
        assert rc == 0, log[-3000:]
        n = dev.state()["seq"]
        observer.wait(f"{n} envelopes", lambda: len(observer.matching("gl/v1/gt-tls/evt/#")) >= n)
    finally:
        observer.stop()
        fleet.cleanup()
    hwm, free, total = map(int, _HEAP.findall(log)[-1])
    assert hwm < total
    print(f"\nface gate over TLS at {GATE_HEAPSIZE}: {n} envelopes, hwm={hwm} total={total}")
