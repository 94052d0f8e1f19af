"""apps/handheld/roster.py on MicroPython and CPython: the hub's list replaces the provisioned
one, PINs are checked by PBKDF2, wrong PINs lock an id out (kept across a reboot: the count is
in the device state), other ids never reset a count, and at most 16 ids are counted."""

from __future__ import annotations

import hashlib
import json

SCRIPT = """
import sys, json
from state import State
from apps.handheld.roster import Roster
flash = sys.argv[1]
cfg = json.load(open(sys.argv[2]))  # files: the unix port fails on an argument over ~255 bytes
hub_list = json.load(open(sys.argv[3]))

class Dev:
    def __init__(self):
        self.root = flash
        self.state = State(flash + "/state.json")
    def opt(self, key):
        return cfg.get(key)

d = Dev()
r = Roster(d)
print("PROVISIONED", r.version(), sorted(r.records()))
print("OLD", r.check("w1", "1111", 1000))
try:
    r.apply({"v": "abc", "grid": "other", "workers": {}}, "g1")
except ValueError as e:
    print("REFUSED", e)
print("APPLY", r.apply(hub_list, "g1"))
print("OLD2", r.check("w1", "1111", 1001))
print("NEW", r.check("w1", "2468", 1002))
print("W2", r.check("w2", "2468", 1003), r.check("w2", "2468", 1004))
for i in range(3):
    print("BAD", r.check("w1", "0000", 1010 + i))
d.state.save()
d2 = Dev()  # a reboot: the lock is on flash
r2 = Roster(d2)
print("VERSION", r2.version())
print("LOCKED", r2.check("w1", "2468", 1100))
print("LATER", r2.check("w1", "2468", 1013 + 600))
for i in range(20):
    r2.check("x%d" % i, "0000", 2000)
print("COUNTED", len(d2.state.get("pin_fails")), "W2", d2.state.get("pin_fails").get("w2"))
print("KEYPAD", r2.check("w1", "2468", 2002), r2.check("w1", "2468", 2000 + 600))
d2.state.set("pin_fails", {"w1": [0, 10 ** 9]})  # locked until a date far ahead (a bad clock)
print("CAPPED", r2.check("w1", "2468", 3000), r2.check("w1", "2468", 3000 + 600))
"""


def _record(pin: str, salt: bytes, n: int = 1000) -> list:
    return [salt.hex(), n, hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, n).hex()]


def test_the_roster_checks_pins_limits_tries_and_survives_a_reboot(run_fw, tmp_path) -> None:
    flash = tmp_path / "flash"
    flash.mkdir()
    cfg = {"workers": {"w1": _record("1111", b"a" * 16)}, "pin_tries": 3, "pin_lock_s": 600}
    records = {"w1": _record("2468", b"b" * 16), "w2": _record("1357", b"c" * 16)}
    hub_list = {"v": "0123456789abcdef", "grid": "g1", "workers": records}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    (tmp_path / "list.json").write_text(json.dumps(hub_list))
    out = run_fw(SCRIPT, flash, tmp_path / "cfg.json", tmp_path / "list.json")
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert lines["PROVISIONED"] == "None ['w1']", out
    assert lines["OLD"] == "(True, 0, False)", out
    assert "list for grid other, this handheld serves g1" in lines["REFUSED"], out
    assert lines["APPLY"] == "applied 0123456789abcdef", out
    assert lines["OLD2"] == "(False, 1, False)", out  # the provisioned PIN no longer opens
    assert lines["NEW"] == "(True, 0, False)", out
    assert lines["W2"] == "(False, 1, False) (False, 2, False)", out
    bad = [line for line in out.splitlines() if line.startswith("BAD")]
    assert bad == ["BAD (False, 1, False)", "BAD (False, 2, False)", "BAD (False, 3, True)"], out
    assert lines["VERSION"] == "0123456789abcdef", out
    assert lines["LOCKED"] == "(False, 0, True)", out  # after a reboot, the right PIN too
    assert lines["LATER"] == "(True, 0, False)", out  # once the lock has passed
    # twenty other ids typed wrong once each: sixteen counted at most, and w2's count is kept
    # (nearest to a lock)
    assert lines["COUNTED"].startswith("16 W2 [2, 0]"), out
    # 4 x pin_tries wrong in a row whatever the ids: the keypad locked, for pin_lock_s
    assert lines["KEYPAD"] == "(False, 0, True) (True, 0, False)", out
    assert lines["CAPPED"] == "(False, 0, True) (True, 0, False)", out
