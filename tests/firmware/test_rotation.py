"""rotate_key on the device (firmware/lib/device.py + identity.py): the new key is staged on
flash, announced by a `key` event signed with the OLD key, then committed. A power cut at
every step: the device never signs with a key its chain has not announced, never loses the
seed it signs with, and announces each new key exactly once."""

from __future__ import annotations

import json
import re

import pytest

from protocol import command, crypto, envelope
from simulator import Fleet, scenarios
from tests.firmware.scripts import DEVICE, KEY
from tests.support.mosquitto import Mosquitto
from tests.support.wire import MqttObserver

GRID = "33010200100101"

ROTATE = (
    DEVICE
    + """
import identity
from compat import remove
REAL = {"replace": identity.replace, "publish": identity.publish, "remove": identity.remove}

class Cut(BaseException):  # the power goes: nothing catches it, nothing acks
    pass

def boom(*a, **kw):
    raise Cut()

class Client:
    out = []
    async def subscribe(self, t, q): pass
    async def publish(self, t, p, q, r): Client.out.append((t, bytes(p)))
    async def wait_closed(self): await asyncio.sleep(3600)

def rotate_cmd(d):
    now = h.clock.time()
    cseq = d.commands.guard.last_cseq + 1
    return command.seal_command(cfg["device_id"], cseq, "rot-%d" % cseq, "rotate_key", {},
                                now, now + 600, hub_seed)

def cut_at(point, d):
    # Device forgets identity after its start and imports it again for rotate_key: let that
    # import find this (patched) module
    sys.modules["identity"] = identity
    replace = REAL["replace"]
    if point == "stage":  # key.new written to its temp file, not renamed
        identity.replace = lambda tmp, path: boom() if path.endswith("key.new") else \
            replace(tmp, path)
    elif point == "staged":  # key.new on flash, the key event not signed
        emit = d._emit
        d._emit = lambda kind, *a, **kw: boom() if kind == "key" else emit(kind, *a, **kw)
    elif point == "put":  # the key event in the outbox, the state (seq, rot) not saved
        put = d.outbox.put
        def put_then_cut(*a, **kw):
            put(*a, **kw)
            raise Cut()
        d.outbox.put = put_then_cut
    elif point == "saved":  # state saved, key.new not renamed over key
        identity.replace = lambda tmp, path: boom() if tmp.endswith("key.new") else \
            replace(tmp, path)
    elif point == "fat":  # FAT: compat.replace removed key, the rename did not happen
        def fat(tmp, path):
            if tmp.endswith("key.new"):
                remove(path)
                raise Cut()
            replace(tmp, path)
        identity.replace = fat
    elif point == "renamed":  # key.new renamed over key, key.pub not rewritten
        identity.publish = boom
    elif point == "full":  # the outbox refuses the key event (room again for the ack)
        room = d.outbox.max_bytes
        d.outbox.max_bytes = d.outbox.bytes_used
        def remove_then_room(path):
            REAL["remove"](path)
            if path.endswith("key.new"):
                d.outbox.max_bytes = room
        identity.remove = remove_then_room

async def main():
    point = sys.argv[2]
    d = Device(cfg, h, cfg["flash"], link_factory=NoLink)
    print("OLD", d.pub_hex)
    await d.emit("note", {"n": 1})
    cut_at(point, d)
    try:
        await d.commands.handle(rotate_cmd(d))
        print("NO_CUT", d.pub_hex)
    except Cut:
        print("CUT")
    for k in REAL:
        setattr(identity, k, REAL[k])
    d = Device(cfg, h, cfg["flash"], link_factory=NoLink)  # the next boot
    print("BOOT", d.pub_hex)
    await d.emit("note", {"n": 2})
    await d._on_up(Client())
    for name in sorted(os.listdir(cfg["flash"])):
        if name.startswith("key"):
            print("FILE", name, open(cfg["flash"] + "/" + name).read())
    import outbox
    for r in d.outbox.iter():
        print("REC", outbox.rec_topic(r), bytes(outbox.rec_payload(r)).decode())
    for t, p in Client.out:
        print("REC", t, p.decode())
asyncio.run(main())
"""
)


def _lines(out: str, tag: str) -> list[list[str]]:
    return [ln.split(" ", 2)[1:] for ln in out.splitlines() if ln.startswith(tag + " ")]


def _hub_view(out: str, old_pub: str) -> tuple[str, list[dict], list[dict]]:
    """Walk the chain as the hub would: every envelope must verify with the key the chain has
    announced so far (starting with the registered one); a `key` event switches to its pub.
    Returns the key the hub ends with, the envelopes and the births (checked with that key)."""
    known = old_pub
    envs = []
    births = []
    recs = _lines(out, "REC")
    for topic, payload in recs:
        if topic.endswith("/state"):
            births.append((topic, payload))
            continue
        env = envelope.open(payload.encode(), bytes.fromhex(known))  # raises on a wrong key
        envs.append(env)
        if env["kind"] == "key":
            known = env["body"]["pub"]
    seqs = [e["seq"] for e in envs]
    assert seqs == list(range(1, len(envs) + 1)), seqs  # one chain, no gap, no fork
    states = [command.open_state(p.encode(), bytes.fromhex(known)) for _, p in births]
    return known, envs, states


@pytest.mark.parametrize(
    "point", ["none", "stage", "staged", "put", "saved", "fat", "renamed", "full"]
)
@pytest.mark.parametrize("cfg_key", [True, False], ids=["config-key", "device-key"])
def test_a_power_cut_at_any_step_of_a_rotation_never_signs_with_an_unannounced_key(
    run_mpy, dev_cfg, tmp_path, point, cfg_key
):
    path = dev_cfg()
    if not cfg_key:  # the key made on the device at first boot
        cfg = json.loads(open(path).read())
        del cfg["key"]
        open(path, "w").write(json.dumps(cfg))
    out = run_mpy(ROTATE, path, point, heapsize="4M")
    old = _lines(out, "OLD")[0][0]
    if cfg_key:
        assert old == crypto.public_key(bytes.fromhex(KEY)).hex()
    rotated = point not in ("stage", "full")  # the cut came before anything was announced
    assert ("CUT" in out.splitlines()) == (point not in ("none", "full")), out
    known, envs, births = _hub_view(out, old)
    keys = [e for e in envs if e["kind"] == "key"]
    assert len(keys) == (1 if rotated else 0), out  # announced exactly once
    files = {name: text for name, text in _lines(out, "FILE")}
    assert "key.new" not in files, out  # no rotation left half done
    boot = _lines(out, "BOOT")[0][0]
    assert boot == known, out  # the device signs with the key the hub ends with
    assert files["key.pub"] == known, out
    if "key" in files:  # the seed on flash is the one it signs with: never lost
        assert crypto.public_key(bytes.fromhex(files["key"])).hex() == known
    else:
        assert cfg_key and not rotated, out
    assert [b["online"] for b in births] == [True] and births[0]["seq"] == envs[-1]["seq"]
    if rotated:
        assert known != old
        assert keys[0]["body"] == {"pub": known}
    acks = [e["body"] for e in envs if e["kind"] == "ack"]
    if point == "none":
        assert [(a["status"], a["detail"]) for a in acks] == [("succeeded", known)], out
        assert envs[-2]["kind"] == "ack" and envs[-3]["kind"] == "key"  # ack after the key
    elif point == "full":
        assert [(a["status"], a["detail"]) for a in acks] == [
            ("failed", "ValueError: rotate_key: outbox full, key event not stored")
        ], out
    else:
        assert acks == [], out  # the power went before the ack: the hub retries the command


_HEAP = re.compile(r"heap peak=-?\d+ hwm=(\d+) free=\d+ total=(\d+)")


def _verified(wire: MqttObserver, dev: str, pk: bytes, since: int = 0) -> list[dict]:
    """dev's envelopes (events and acks) seen since `since`, each verified with pk."""
    return [
        envelope.open(m.payload, pk)
        for m in wire.matching(f"gl/v1/{dev}/#", since)
        if "/evt/" in m.topic or m.topic.endswith("/ack")
    ]


def test_a_live_handheld_made_its_key_rotates_it_on_command_at_192k(tmp_path):
    # the real start path (main.py, Fleet) on a real Mosquitto: the key made on the device,
    # the rotation by a signed command, a reboot on the new key, all at the handheld's heap
    with Mosquitto(workdir=tmp_path / "broker") as broker:
        fleet = Fleet(
            broker.host, broker.port, root=tmp_path / "fleet", accounts=broker.device_account
        )
        wire = MqttObserver(broker, ("gl/v1/#",)).start()
        try:
            dev = fleet.add_handheld(
                "hh-rot", GRID, scenario=scenarios.idle(15), key_on_device=True,
                heartbeat_s=0, track_s=0, heapsize="192K",
            )  # fmt: skip
            assert "key" not in dev.config and dev.seed is None
            old = dev.public_key  # identity.ensure ran on the flash before the first start
            assert (dev.flash_dir / "key.pub").read_text() == old.hex()
            dev.start()
            wire.wait("birth", lambda: wire.online("hh-rot"), 30)
            birth = [
                command.open_state(m.payload, old) for m in wire.matching("gl/v1/hh-rot/state")
            ]
            assert birth[-1]["online"] and birth[-1]["seq"] >= 0
            wire.wait("sign-in", lambda: _verified(wire, "hh-rot", old), 30)
            mark = wire.mark()
            wire.publish("gl/v1/hh-rot/cmd", fleet.command("hh-rot", "rotate_key"))
            acks = wire.wait(
                "ack", lambda: [m for m in wire.matching("gl/v1/hh-rot/ack", mark)], 60
            )
            new = dev.public_key
            assert new != old, (envelope.parse(acks[0].payload), dev.log()[-2000:])
            ack = envelope.open(acks[0].payload, new)  # the ack is signed with the new key
            assert (ack["body"]["status"], ack["body"]["detail"]) == ("succeeded", new.hex())
            key_evt = [
                envelope.open(m.payload, old) for m in wire.matching("gl/v1/hh-rot/evt/key", mark)
            ]  # the announcement is signed with the old key
            assert [e["body"] for e in key_evt] == [{"pub": new.hex()}]
            assert key_evt[0]["seq"] + 1 == ack["seq"]
            mark = wire.mark()
            dev.restart()  # power loss, then the next boot: on the new key, announcing seq
            try:
                wire.wait("birth", lambda: wire.online("hh-rot", mark), 60)
            except AssertionError as e:
                raise AssertionError(f"{e}\n{dev.log()[-3000:]}") from None
            births = [
                command.open_state(m.payload, new)  # raises unless signed with the new key
                for m in wire.matching("gl/v1/hh-rot/state", mark)
                if m.payload and command.open_state(m.payload)["online"]
            ]
            assert births[0]["seq"] >= ack["seq"]
            rc = dev.wait(120)  # the idle script ends: the app finishes and logs its heap
            log = dev.log()
            assert rc == 0, log[-3000:]
            assert "MemoryError" not in log, log[-3000:]
        finally:
            wire.stop()
            fleet.cleanup()
    hwm, total = map(int, _HEAP.findall(log)[-1])
    print(f"handheld rotation at 192K: hwm={hwm} total={total}")
    assert 0 < hwm < total
