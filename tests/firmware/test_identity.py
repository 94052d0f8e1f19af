"""firmware/lib/identity.py: the signing key made on the device, <flash>/key over the
config's key, key.pub for provisioning; Device signs with it; births announce seq."""

from __future__ import annotations

import json

from protocol import command, crypto, envelope
from tests.firmware.scripts import DEVICE, KEY

IDENTITY = """
import sys, os, binascii
import identity
from protocol import crypto
flash = sys.argv[1]

def files():
    return sorted(n for n in os.listdir(flash))

pub = identity.ensure(flash)
seed = open(flash + "/key").read()
print("FIRST", pub, files())
print("MATCH", crypto.public_key(binascii.unhexlify(seed)).hex() == pub,
      open(flash + "/key.pub").read() == pub)
print("AGAIN", identity.ensure(flash) == pub, open(flash + "/key").read() == seed)
# the flash key wins over a config key
print("WINS", identity.load(flash, "11" * 32) == binascii.unhexlify(seed))
# a key.pub that lies (or is missing) is rewritten
open(flash + "/key.pub", "w").write("00" * 32)
print("REPUB", identity.ensure(flash) == pub, open(flash + "/key.pub").read() == pub)
# a torn write of the first key (temp file, no rename) is never used
other = flash + "-2"
os.mkdir(other)
open(other + "/key.tmp", "w").write("abc")
p2 = identity.ensure(other)
print("TORN", p2 != pub, len(open(other + "/key").read()))
# a config key is used while the flash has none, and never copied to the flash
cfgd = flash + "-3"
os.mkdir(cfgd)
p3 = identity.ensure(cfgd, "%s")
print("CFG", p3 == crypto.public_key(binascii.unhexlify("%s")).hex(), sorted(os.listdir(cfgd)))
# a damaged key file is an error naming it, never silently replaced
open(cfgd + "/key", "w").write("zz" * 32)
try:
    identity.ensure(cfgd)
    print("DAMAGED accepted")
except identity.IdentityError as e:
    print("DAMAGED", e, open(cfgd + "/key").read() == "zz" * 32)
# a port without os.urandom: a precise error telling provisioning what to do
class NoRandom:
    pass
real = identity.os
identity.os = NoRandom()
try:
    identity.new_seed()
    print("NORAND made one")
except identity.IdentityError as e:
    print("NORAND", e)
identity.os = real
""" % (KEY, KEY)


def test_ensure_makes_the_key_once_and_publishes_its_public_half(run_fw, tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    out = run_fw(IDENTITY, flash, heapsize="64K")
    first = next(ln for ln in out.splitlines() if ln.startswith("FIRST")).split(" ", 2)
    pub = first[1]
    assert len(pub) == 64 and first[2] == "['key', 'key.pub']", out
    assert "MATCH True True" in out, out
    assert "AGAIN True True" in out, out
    assert "WINS True" in out, out
    assert "REPUB True True" in out, out
    assert "TORN True 64" in out, out
    assert "CFG True ['key.pub']" in out, out  # the config's seed is not copied
    assert f"DAMAGED {tmp_path}/flash-3/key: want 64 hex digits (32 bytes) True" in out, out
    assert "NORAND no os.urandom on this port: provision a CLI-made key" in out, out
    assert (flash / "key.pub").read_text() == pub
    seed = bytes.fromhex((flash / "key").read_text())
    assert crypto.public_key(seed).hex() == pub  # CPython's OpenSSL agrees


BOOT = (
    DEVICE
    + """
async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=FakeLink)
    await d.emit("note", {"n": d.state.get("seq", 0) + 1})
    await d._on_up(Client())
    import outbox
    recs = [(outbox.rec_topic(r), outbox.rec_payload(r)) for r in d.outbox.iter()]
    for t, p in recs[-1:] + Client.out:  # the newest envelope, the birth
        print("FRAME", t, bytes(p).decode())
    print("PUB", d.pub_hex)

class Client:
    out = []
    async def subscribe(self, t, q): pass
    async def publish(self, t, p, q, r): Client.out.append((t, bytes(p)))
    async def wait_closed(self): await asyncio.sleep(3600)
asyncio.run(main())
"""
)


def _frames(out: str) -> list[tuple[str, bytes]]:
    return [
        (ln.split(" ", 2)[1], ln.split(" ", 2)[2].encode())
        for ln in out.splitlines()
        if ln.startswith("FRAME ")
    ]


def test_a_device_without_a_config_key_makes_one_signs_with_it_and_keeps_it(
    run_mpy, dev_cfg, tmp_path
):
    cfg = json.loads(open(dev_cfg()).read())
    del cfg["key"]
    path = tmp_path / "nokey.json"
    path.write_text(json.dumps(cfg))
    out1 = run_mpy(BOOT, path, heapsize="4M")
    pub = (tmp_path / "flash" / "key.pub").read_text()
    assert f"PUB {pub}" in out1, out1
    out2 = run_mpy(BOOT, path, heapsize="4M")  # the second boot: the same key
    assert f"PUB {pub}" in out2, out2
    pk = bytes.fromhex(pub)
    for out, seq in ((out1, 1), (out2, 2)):
        frames = _frames(out)
        evt = [envelope.open(p, pk) for t, p in frames if "/evt/" in t]
        assert [e["seq"] for e in evt] == [seq], out
        birth = [command.open_state(p, pk) for t, p in frames if t.endswith("/state")]
        # the birth announces the highest seq assigned (the hub's revocation watermark)
        assert [(b["online"], b["seq"]) for b in birth] == [(True, seq)], out


def test_the_flash_key_wins_over_the_config_key(run_mpy, dev_cfg, tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    seed = bytes(range(100, 132))
    (flash / "key").write_text(seed.hex())
    out = run_mpy(BOOT, dev_cfg(), heapsize="4M")  # the config carries KEY
    pk = crypto.public_key(seed)
    assert f"PUB {pk.hex()}" in out, out
    assert (flash / "key.pub").read_text() == pk.hex()
    assert all(
        envelope.open(p, pk) for t, p in _frames(out) if "/evt/" in t
    )  # raises if the config key had signed


def test_a_fresh_device_announces_seq_0_in_its_birth(run_mpy, dev_cfg):
    script = BOOT.replace('    await d.emit("note", {"n": d.state.get("seq", 0) + 1})\n', "")
    out = run_mpy(script, dev_cfg(), heapsize="4M")
    pk = crypto.public_key(bytes.fromhex(KEY))
    births = [command.open_state(p, pk) for t, p in _frames(out) if t.endswith("/state")]
    assert [b["seq"] for b in births] == [0], out


def test_config_without_key_loads_and_a_bad_key_is_named(run_fw, tmp_path):
    script = """
import sys, json
import config
for name in ("nokey", "badkey"):
    try:
        cfg = config.load(sys.argv[1] + "/" + name + ".json")
        print(name, "OK", "key" in cfg)
    except ValueError as e:
        print(name, "ERR", e)
"""
    base = {"device_id": "hh-1", "hub_key": "22" * 32, "grid": "33010200100101"}
    (tmp_path / "nokey.json").write_text(json.dumps(base))
    (tmp_path / "badkey.json").write_text(json.dumps(dict(base, key="xy" * 32)))
    out = run_fw(script, tmp_path)
    assert "nokey OK False" in out, out
    assert "badkey ERR config key: want 64 hex digits (32 bytes)" in out, out
