"""Runs every shared vector in protocol/vectors and prints one line per vector.

Runs unchanged under CPython and MicroPython:  <python> vectors_runner.py <repo root>
Output lines: "<file>:<name> ok" or "<file>:<name> FAIL <why>", then "RESULT <passed> <failed>".
"""

import gc
import json
import sys


def _read(path):
    gc.collect()  # the oversize vector needs one contiguous ~33 KB string on a small heap
    with open(path, encoding="utf-8") as f:
        return json.load(f)  # streamed: no whole-file copy next to the parsed vectors


def _payload(v):
    if "data_hex" in v:
        return bytes.fromhex(v["data_hex"])
    return v["data"].encode("utf-8")


def check_rfc8032(v, crypto):
    seed = bytes.fromhex(v["secret"])
    public = bytes.fromhex(v["public"])
    msg = bytes.fromhex(v["message"])
    sig = bytes.fromhex(v["signature"])
    if crypto.public_key(seed) != public:
        return "public key differs"
    if crypto.sign(seed, msg) != sig:
        return "signature differs"
    if not crypto.verify(public, msg, sig):
        return "valid signature rejected"
    bad = bytearray(sig)
    bad[0] ^= 1
    if crypto.verify(public, msg, bytes(bad)):
        return "altered signature accepted"
    return None


def check_pbkdf2(v, pin):
    salt = bytes.fromhex(v["salt_hex"])
    dk = pin.pbkdf2_sha256(v["password"].encode("utf-8"), salt, v["iterations"], v["length"])
    if dk.hex() != v["dk"]:
        return "derived key differs"
    if v["length"] == pin.DIGEST_BYTES:  # a PIN record of this shape checks its own PIN only
        record = [v["salt_hex"], v["iterations"], v["dk"]]
        if not pin.check(record, v["password"]):
            return "record refused its own PIN"
        if pin.check(record, v["password"] + "0"):
            return "record accepted another PIN"
    return None


def check_positive(v, mods):
    envelope, command, crypto = mods["envelope"], mods["command"], mods["crypto"]
    seed = bytes.fromhex(v["seed"])
    public = bytes.fromhex(v["public"])
    want = v["sealed"].encode("utf-8")
    if crypto.public_key(seed) != public:
        return "public key differs"
    t = v["type"]
    f = v["fields"]
    if t == "envelope":
        hist = f.get("hist", False)
        env = envelope.build(
            f["dev"], f["seq"], f["ts"], f["kind"], f["body"], f["blobs"], f["prev"], hist
        )
        got = envelope.seal(env, seed)
        if got != want:
            return "sealed bytes differ"
        opened = envelope.open(want, public)
        if opened["body"] != f["body"]:
            return "body differs after open"
        if envelope.is_historical(opened, f["ts"]) != hist:  # on time: only the flag counts
            return "historical flag differs after open"
        if envelope.digest(want) != v["digest"]:
            return "digest differs"
    elif t == "command":
        got = command.seal_command(
            f["dev"], f["cseq"], f["id"], f["op"], f["args"], f["iat"], f["exp"], seed
        )
        if got != want:
            return "sealed bytes differ"
        guard = command.CommandGuard(public, f["dev"], 0)
        guard.check(want, f["iat"])
        if guard.last_cseq != f["cseq"]:
            return "guard did not advance"
    elif t == "receipt":
        got = command.seal_receipt(f["dev"], f["seq"], f["blobs"], f["ts"], seed)
        if got != want:
            return "sealed bytes differ"
        command.open_receipt(want, public)
    elif t == "state":
        got = command.seal_state(
            f["dev"],
            f["online"],
            f["session"],
            f["ts"],
            seed,
            f.get("fw"),
            f.get("lists"),
            f.get("seq"),
        )
        if got != want:
            return "sealed bytes differ"
        opened = command.open_state(want, public)
        if opened.get("lists") != f.get("lists"):
            return "lists differs after open"
        if opened.get("seq") != f.get("seq"):
            return "seq differs after open"
    else:
        return "unknown vector type " + t
    return None


def check_negative(v, mods):
    envelope, command = mods["envelope"], mods["command"]
    ProtocolError = mods["errors"].ProtocolError
    data = _payload(v)
    public = bytes.fromhex(v["public"])
    try:
        if v["type"] == "envelope":
            env = envelope.open(data, public)
            envelope.check_skew(env, v.get("now", env["ts"]))
            envelope.follows(env, v.get("last_seq", 0))
        elif v["type"] == "command":
            guard = command.CommandGuard(public, v["device"], v.get("last_cseq", 0))
            guard.check(data, v["now"])
        elif v["type"] == "state":
            command.open_state(data, public)
        elif v["type"] == "topic":
            mods["topics"].parse(v["data"])
        else:
            return "unknown vector type " + v["type"]
    except ProtocolError as e:
        if e.reason != v["expect"]:
            return "rejected as %s, expected %s (%s)" % (e.reason, v["expect"], e)
        return None
    return "accepted, expected rejection " + v["expect"]


def main(root):
    sys.path.insert(0, root)
    from protocol import command, crypto, envelope, errors, pin, topics

    mods = {
        "envelope": envelope,
        "command": command,
        "crypto": crypto,
        "errors": errors,
        "topics": topics,
    }
    vdir = root + "/protocol/vectors/"
    passed = failed = 0
    runs = (
        ("rfc8032.json", lambda v: check_rfc8032(v, crypto)),
        ("positive.json", lambda v: check_positive(v, mods)),
        ("negative.json", lambda v: check_negative(v, mods)),
        ("pbkdf2.json", lambda v: check_pbkdf2(v, pin)),
    )
    for fname, fn in runs:
        for v in _read(vdir + fname)["vectors"]:
            try:
                why = fn(v)
            except Exception as e:  # a crash is a failure of that vector, reported by name
                why = "raised %s: %s" % (type(e).__name__, e)
            if why is None:
                passed += 1
                print("%s:%s ok" % (fname, v["name"]))
            else:
                failed += 1
                print("%s:%s FAIL %s" % (fname, v["name"], why))
    print("RESULT %d %d" % (passed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1] if len(sys.argv) > 1 else ".") else 0)
