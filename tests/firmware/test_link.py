"""link.py policy (backoff, stop) and mqtt.py refusals / TLS, on MicroPython."""

from __future__ import annotations

import datetime
import json

from tests.firmware.scripts import WAIT_UNTIL
from tests.support.micropython import read_until
from tests.support.mosquitto import Mosquitto
from tests.support.net import free_port

BACKOFF = (
    WAIT_UNTIL
    + """
import asyncio, sys, time, json
import mqtt, link
port = int(sys.argv[1])
stamps = []
if not hasattr(time, "ticks_ms"):  # CPython
    time.ticks_ms = lambda: int(time.monotonic() * 1000)
    time.ticks_diff = lambda a, b: a - b

def factory():
    stamps.append(time.ticks_ms())
    return mqtt.MQTTClient("nobody", "127.0.0.1", port)

async def main():
    ln = link.Link(factory, backoff_min_ms=40, backoff_max_ms=320)
    t = asyncio.create_task(ln.run())
    await wait_until(lambda: len(stamps) >= 8)
    ln.stop()
    await asyncio.wait_for(t, 2)          # run() returns after stop()
    gaps = [time.ticks_diff(b, a) for a, b in zip(stamps, stamps[1:])]
    print(json.dumps({"gaps": gaps, "failures": ln.failures, "up": ln.is_up(),
                      "connects": ln.connects}))

asyncio.run(main())
"""
)


def test_backoff_doubles_with_jitter_up_to_the_cap(run_fw):
    r = json.loads(run_fw(BACKOFF, free_port()).strip().splitlines()[-1])
    assert r["failures"] >= 7 and r["connects"] == 0 and r["up"] is False
    delay = 40
    for gap in r["gaps"]:
        # sleep is delay/2 + random(delay/2); connection refused on loopback is immediate
        assert delay // 2 <= gap <= delay + 200, (gap, delay, r["gaps"])  # 200: a busy CI box
        delay = min(delay * 2, 320)
    assert max(r["gaps"][-3:]) >= 160  # it did grow to the cap region


REFUSED = """
import asyncio, sys
import mqtt
port = int(sys.argv[1])
a = sys.argv[2:] or ["anon", None, None]   # client id, user, password

async def main():
    c = mqtt.MQTTClient(a[0], "127.0.0.1", port, user=a[1], password=a[2])
    try:
        await c.connect()
        print("connected")
    except mqtt.MQTTError as e:
        print("refused", e.args[0], isinstance(e, OSError), c.connected)

asyncio.run(main())
"""


def test_refused_connack_is_an_mqtt_error(run_mpy, tmp_path):
    with Mosquitto(workdir=tmp_path / "b") as b:  # the locked-down broker: no anonymous clients
        out = run_mpy(REFUSED, b.port).strip().splitlines()
        user, password = b.device_account("hh-acct")
        own = run_mpy(REFUSED, b.port, "hh-acct", user, password).strip().splitlines()
        wrong = run_mpy(REFUSED, b.port, "hh-acct", user, password + "x").strip().splitlines()
        other_id = run_mpy(REFUSED, b.port, "hh-other", user, password).strip().splitlines()
    assert out[-1] == "refused 5 True False"  # 5 = not authorised
    assert own[-1] == "connected"  # the device's own account and client id
    assert wrong[-1] == "refused 5 True False"
    assert other_id[-1] == "refused 5 True False"  # the account is bound to its client id


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "cert.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )


TLS = (
    WAIT_UNTIL
    + """
import asyncio, sys, ssl
import mqtt
port, ca = int(sys.argv[1]), sys.argv[2]

async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with open(ca, "rb") as f:
        ctx.load_verify_locations(cadata=f.read())   # mbedTLS wants DER
    ctx.verify_mode = ssl.CERT_REQUIRED
    got = []
    c = mqtt.MQTTClient("tls-dev", "localhost", port, ssl=ctx)
    c.set_callback(lambda t, p: got.append(p))
    await c.connect(clean_session=True)
    await c.subscribe("dev/echo", 1)
    await c.publish("dev/echo", b"over tls " + b"y" * 5000, qos=1)
    await wait_until(lambda: got)
    print("tls", len(got[0]))
    await c.disconnect()

asyncio.run(main())
"""
)


def test_tls_with_a_verified_server_certificate(run_mpy, tmp_path):
    _self_signed(tmp_path)
    port = free_port()
    conf = f"listener {port} 127.0.0.1\ncertfile {tmp_path}/cert.pem\nkeyfile {tmp_path}/key.pem\n"
    # the client's TLS on an arbitrary topic: the anonymous broker (see conftest.py)
    with Mosquitto(workdir=tmp_path / "b", extra_conf=conf, secure=False):
        out = run_mpy(TLS, port, tmp_path / "cert.der").strip().splitlines()
    assert out[-1] == "tls 5009"


STOP = """
import asyncio, sys
import mqtt, link
port = int(sys.argv[1])

async def main():
    ln = link.Link(lambda: mqtt.MQTTClient("stop-dev", "127.0.0.1", port, keepalive=5))
    t = asyncio.create_task(ln.run())
    await ln.wait_up()
    print("up", ln.is_up(), ln.client.connected)
    ln.stop()
    await asyncio.wait_for(t, 2)
    print("stopped", ln.is_up(), ln.client.connected)
    try:
        await ln.publish("dev/x", b"1")
    except OSError as e:
        print("publish", e.args[0])

asyncio.run(main())
"""


def test_stop_ends_run_and_publish_raises_oserror(run_fw, broker):
    out = run_fw(STOP, broker.port).strip().splitlines()
    assert out[-3:] == ["up True True", "stopped False False", "publish 107"]


HUNG = (
    WAIT_UNTIL
    + """
import asyncio, sys
import mqtt, link
port = int(sys.argv[1])
ups = []

async def on_up(c):
    ups.append(1)
    print("up", len(ups))

async def main():
    ln = link.Link(lambda: mqtt.MQTTClient("hung-dev", "127.0.0.1", port, keepalive=1),
                   on_up=on_up, backoff_min_ms=50, backoff_max_ms=200)
    asyncio.create_task(ln.run())
    await ln.wait_up()
    await wait_until(lambda: not ln.is_up(), timeout_s=30)
    print("down", ln.failures)
    await wait_until(lambda: len(ups) >= 2, timeout_s=30)
    print("done", ln.reconnects)
    ln.stop()

asyncio.run(main())
"""
)


def test_a_hung_broker_is_detected_by_keepalive_pings(mpy_procs, broker):
    p = mpy_procs(HUNG, broker.port)
    read_until(p, "up 1")
    broker.pause()  # TCP stays open, nothing answers: only the ping timeout can tell
    lines = read_until(p, "down", timeout=5)
    assert "WARNING link down: OSError(110" in " ".join(lines)  # ETIMEDOUT
    broker.resume()
    assert read_until(p, "done", timeout=10)[-1] == "done 1"
    assert p.wait(5) == 0
    assert "Received PINGREQ from hung-dev" in broker.log()


BUSY = """
import asyncio, sys
import mqtt, link
port = int(sys.argv[1])

async def main():
    ln = link.Link(lambda: mqtt.MQTTClient("busy-dev", "127.0.0.1", port, keepalive=1))
    asyncio.create_task(ln.run())
    await ln.wait_up()
    # the sleeps are what is under test: 1.5 s of traffic spaced under the 1 s keepalive
    # (PUBACKs prove the link alive, so no ping), then 2.3 s of silence: it must ping every
    # keepalive/2, about 4 times (at least 2 are asserted: a loaded machine delays the loop)
    for i in range(30):
        await ln.publish("dev/evt", b"%d" % i)
        await asyncio.sleep(0.05)
    print("busy done")
    await asyncio.sleep(2.3)
    print("idle done", ln.reconnects)
    ln.stop()

asyncio.run(main())
"""


def test_keepalive_pings_only_an_idle_link(mpy_procs, broker):
    p = mpy_procs(BUSY, broker.port)
    read_until(p, "busy done")
    assert "PINGREQ from busy-dev" not in broker.log()
    assert read_until(p, "idle done")[-1] == "idle done 0"
    assert p.wait(5) == 0
    assert broker.log().count("Received PINGREQ from busy-dev") >= 2


FLAPPING = BACKOFF.replace(
    '    return mqtt.MQTTClient("nobody", "127.0.0.1", port)',
    '    return mqtt.MQTTClient("nobody", "127.0.0.1", port, keepalive=10)',
)


def test_a_broker_that_accepts_then_drops_us_is_backed_off(run_fw):
    """CONNACK then close, every time (a clashing client id, a refused subscription): the
    link must keep backing off instead of reconnecting at the minimum delay forever."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(1024)  # CONNECT
                    conn.sendall(b"\x20\x02\x00\x00")  # CONNACK, accepted
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        r = json.loads(run_fw(FLAPPING, srv.getsockname()[1]).strip().splitlines()[-1])
    finally:
        stop.set()
        thread.join(2)
        srv.close()
    assert r["connects"] >= 7  # the broker did accept every time
    assert max(r["gaps"][-3:]) >= 160, r["gaps"]  # ...and the delay still grew to the cap
