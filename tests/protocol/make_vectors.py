"""Writes protocol/vectors/*.json. Run only when adding vectors: existing ones never change.

    python tests/protocol/make_vectors.py

RFC 8032 section 7.1 vectors are copied from the RFC and cross-checked with OpenSSL here.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from protocol import canonical, command, crypto, envelope, sealed  # noqa: E402
from protocol.limits import GENESIS, MAX_ENVELOPE_BYTES, MAX_SEQ  # noqa: E402

RFC8032 = [
    {
        "name": "TEST 1",
        "secret": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "public": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "message": "",
        "signature": "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    },
    {
        "name": "TEST 2",
        "secret": "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "public": "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "message": "72",
        "signature": "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    },
    {
        "name": "TEST 3",
        "secret": "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "public": "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "message": "af82",
        "signature": "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    },
    {
        "name": "TEST SHA(abc)",
        "secret": "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "public": "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "message": "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "signature": "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
        "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    },
]


def _seed(label: str) -> bytes:
    return hashlib.sha256(b"gridlink test vector " + label.encode()).digest()


DEV = _seed("hh-33010200100101")
HUB = _seed("hub command key")
OTHER = _seed("some other key")
TS = 1795000000
PHOTO = {"mime": "image/jpeg", "sha256": hashlib.sha256(b"photo").hexdigest(), "size": 2097152}
AUDIO = {"mime": "audio/wav", "sha256": hashlib.sha256(b"audio").hexdigest(), "size": 320044}
LOC = {"acc_m": 5, "lat_e6": 30274100, "lon_e6": 120155100}


def _check_rfc() -> None:
    for v in RFC8032:
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["secret"]))
        assert key.sign(bytes.fromhex(v["message"])).hex() == v["signature"], v["name"]


def _env(name, dev_id, seq, kind, body, blobs=(), prev=GENESIS, seed=DEV, hist=False):
    fields = {
        "dev": dev_id,
        "seq": seq,
        "ts": TS + seq % 1000,
        "kind": kind,
        "body": body,
        "blobs": list(blobs),
        "prev": prev,
    }
    if hist:
        fields["hist"] = True
    sealed = envelope.seal(envelope.build(**fields), seed)
    return {
        "name": name,
        "type": "envelope",
        "seed": seed.hex(),
        "public": crypto.public_key(seed).hex(),
        "fields": fields,
        "sealed": sealed.decode("utf-8"),
        "digest": envelope.digest(sealed),
    }


def positive() -> list[dict]:
    dev = "hh-33010200100101"
    first = _env(
        "first report, text only",
        dev,
        1,
        "report",
        {
            "category": "road_damage",
            "grid": "33010200100101",
            "loc": LOC,
            "text": "pothole at the north gate",
            "worker": "w-0007",
        },
    )
    out = [first]
    out.append(
        _env(
            "chained second envelope",
            dev,
            2,
            "heartbeat",
            {"battery": 87, "fw": "0.1.0", "outbox": 0},
            prev=first["digest"],
        )
    )
    out.append(
        _env(
            "report with photo and audio",
            dev,
            3,
            "report",
            {
                "category": "garbage",
                "grid": "33010200100101",
                "loc": LOC,
                "one_key": True,
                "text": "overflowing bins",
                "worker": "w-0007",
            },
            [PHOTO, AUDIO],
            prev=first["digest"],
        )
    )
    out.append(
        _env(
            "Chinese text",
            dev,
            4,
            "report",
            {
                "category": "占道经营",
                "grid": "33010200100101",
                "loc": LOC,
                "text": "东门口有流动摊贩占道经营，影响通行。",
                "worker": "w-0007",
            },
        )
    )
    out.append(
        _env(
            "largest seq",
            dev,
            MAX_SEQ,
            "track",
            {"points": [[TS, 30274100, 120155100], [TS + 30, 30274180, 120155020]]},
        )
    )
    out.append(
        _env(
            "escapes and control characters",
            dev,
            6,
            "report",
            {"text": 'quote " backslash \\ newline \n tab \t bell \x07 end'},
        )
    )
    out.append(
        _env(
            "empty body, nested lists, null and booleans",
            "gate-01.east_2",
            7,
            "access",
            {"ok": True, "denied": False, "person": None, "tags": [[], [1, -2], {}]},
        )
    )
    out.append(
        _env(
            "verification with photo",
            dev,
            8,
            "verify",
            {"case_id": 42, "loc": LOC, "result": "confirm", "task_id": "t-42", "text": "已整改"},
            [PHOTO],
        )
    )
    ack = command.ack_body({"id": "c-0001", "cseq": 3}, "refused", "expired")
    out.append(_env("ack of a refused command", dev, 9, "ack", ack))
    for name, args, op, cseq in (
        ("command: ping", {}, "ping", 3),
        (
            "command: verification task",
            {
                "case_id": 42,
                "loc": LOC,
                "task_id": "t-42",
                "text": "请核查东门口占道经营是否已整改",
            },
            "verify",
            4,
        ),
    ):
        f = {
            "dev": dev,
            "cseq": cseq,
            "id": f"c-{cseq:04d}",
            "op": op,
            "args": args,
            "iat": TS,
            "exp": TS + 600,
        }
        sealed = command.seal_command(
            f["dev"], f["cseq"], f["id"], f["op"], f["args"], f["iat"], f["exp"], HUB
        )
        out.append(
            {
                "name": name,
                "type": "command",
                "seed": HUB.hex(),
                "public": crypto.public_key(HUB).hex(),
                "fields": f,
                "sealed": sealed.decode(),
            }
        )
    f = {"dev": dev, "seq": 9, "blobs": {PHOTO["sha256"]: [3, 7]}, "ts": TS + 10}
    out.append(
        {
            "name": "receipt",
            "type": "receipt",
            "seed": HUB.hex(),
            "public": crypto.public_key(HUB).hex(),
            "fields": f,
            "sealed": command.seal_receipt(f["dev"], f["seq"], f["blobs"], f["ts"], HUB).decode(),
        }
    )
    for name, f, seed in (
        ("birth", {"dev": dev, "online": True, "session": 12, "ts": TS, "fw": "0.1.0"}, DEV),
        ("last will", {"dev": dev, "online": False, "session": 12, "ts": TS}, DEV),
        ("hub state", {"dev": None, "online": True, "session": 1, "ts": TS}, HUB),
    ):
        out.append(
            {
                "name": name,
                "type": "state",
                "seed": seed.hex(),
                "public": crypto.public_key(seed).hex(),
                "fields": f,
                "sealed": command.seal_state(
                    f["dev"], f["online"], f["session"], f["ts"], seed, f.get("fw")
                ).decode(),
            }
        )
    # the highest seq the device assigned: the hub's revocation watermark (docs/protocol.md)
    f = {"dev": dev, "online": True, "session": 13, "ts": TS, "fw": "0.1.0", "seq": 41}
    out.append(
        {
            "name": "birth announcing seq",
            "type": "state",
            "seed": DEV.hex(),
            "public": crypto.public_key(DEV).hex(),
            "fields": f,
            "sealed": command.seal_state(
                f["dev"], f["online"], f["session"], f["ts"], DEV, f["fw"], seq=f["seq"]
            ).decode(),
        }
    )
    gate = "fc-330102001001-01"
    f = {"dev": gate, "online": True, "session": 3, "ts": TS, "fw": "0.2.0", "lists": 42}
    out.append(
        {
            "name": "birth with access-list version",
            "type": "state",
            "seed": DEV.hex(),
            "public": crypto.public_key(DEV).hex(),
            "fields": f,
            "sealed": command.seal_state(
                f["dev"], f["online"], f["session"], f["ts"], DEV, f["fw"], f["lists"]
            ).decode(),
        }
    )
    out.append(
        _env(
            "historical envelope (captured offline)",
            gate,
            10,
            "access",
            {
                "community": "330102001001",
                "events": [
                    {
                        "ev": "granted",
                        "ts": TS + 3,
                        "ms": 120,
                        "door": "d1",
                        "dir": "in",
                        "by": "face",
                        "person": "p-12",
                        "score": 93,
                        "template": "t-0007",
                        "blob": 0,
                        "lat_ms": 7,
                    },
                    {"ev": "door_forced", "ts": TS + 9, "ms": 0, "door": "d1"},
                ],
            },
            [PHOTO],
            hist=True,
        )
    )
    return out


def negative(pos: list[dict]) -> list[dict]:
    good = pos[0]["sealed"]
    pub = pos[0]["public"]
    raw = good.encode()
    out = []

    def add(name, expect, data=None, data_hex=None, public=pub, **extra):
        v = {
            "name": name,
            "type": extra.pop("type", "envelope"),
            "public": public,
            "expect": expect,
            **extra,
        }
        if data_hex is not None:
            v["data_hex"] = data_hex
        else:
            v["data"] = data
        out.append(v)

    flipped = bytearray(raw)
    flipped[raw.index(b"pothole")] ^= 0x01  # "pothole" -> "qothole"
    add("flipped bit in body", "bad_signature", data_hex=bytes(flipped).hex())
    add("wrong key", "bad_signature", good, public=crypto.public_key(OTHER).hex())
    with_blob = pos[2]["sealed"]
    add(
        "modified blob hash",
        "bad_signature",
        with_blob.replace(PHOTO["sha256"], hashlib.sha256(b"other photo").hexdigest()),
        public=pos[2]["public"],
    )
    add("replayed seq", "replayed", good, last_seq=1)
    add("non-canonical: spaces", "non_canonical", good.replace(',"dev"', ', "dev"'))
    obj = json.loads(good)
    add(
        "non-canonical: unsorted keys",
        "non_canonical",
        json.dumps(dict(reversed(list(obj.items()))), separators=(",", ":"), ensure_ascii=False),
    )
    add(
        "non-canonical: escaped non-ASCII",
        "non_canonical",
        pos[3]["sealed"].encode().decode("utf-8").replace("东", "\\u4e1c"),
        public=pos[3]["public"],
    )
    padded = dict(obj, body=dict(obj["body"], text="x" * MAX_ENVELOPE_BYTES))
    add("oversize envelope", "oversize", canonical.dumps(padded).decode())
    add(
        "bad device id",
        "bad_device_id",
        good.replace('"dev":"hh-33010200100101"', '"dev":"hh/+/#"'),
    )
    add(
        "missing signature",
        "malformed",
        canonical.dumps({k: v for k, v in obj.items() if k != "sig"}).decode(),
    )
    add("float in body", "malformed", good.replace('"acc_m":5', '"acc_m":5.5'))
    add("not JSON", "malformed", good[:-7])
    add("clock skew: far future", "clock_skew", good, now=TS - 3600)
    cmd = pos[9]
    dev = cmd["fields"]["dev"]
    hub_pub = cmd["public"]
    add(
        "command: expired",
        "expired",
        cmd["sealed"],
        public=hub_pub,
        type="command",
        device=dev,
        now=TS + 601,
    )
    add(
        "command: replayed cseq",
        "replayed",
        cmd["sealed"],
        public=hub_pub,
        type="command",
        device=dev,
        now=TS,
        last_cseq=3,
    )
    add(
        "command: signed by a device key",
        "bad_signature",
        command.seal_command(dev, 5, "c-0005", "reboot", {}, TS, TS + 60, DEV).decode(),
        public=hub_pub,
        type="command",
        device=dev,
        now=TS,
    )
    add(
        "command: for another device",
        "wrong_target",
        cmd["sealed"],
        public=hub_pub,
        type="command",
        device="hh-33010200100102",
        now=TS,
    )
    add(
        "command: unsigned",
        "malformed",
        canonical.dumps(
            {k: v for k, v in json.loads(cmd["sealed"]).items() if k != "sig"}
        ).decode(),
        public=hub_pub,
        type="command",
        device=dev,
        now=TS,
    )
    hist_env = json.loads(pos[-1]["sealed"])  # the historical envelope, re-signed per variant
    for label, value in (("false", False), ("1", 1), ('"yes"', "yes"), ("null", None)):
        add(
            f"hist {label} (only true is allowed)",
            "malformed",
            sealed.seal(dict(hist_env, hist=value), DEV, envelope.DOMAIN).decode(),
            public=pos[-1]["public"],
        )
    birth = json.loads(pos[-2]["sealed"])  # the birth with lists, re-signed per variant
    for label, value in (('a string "42"', "42"), ("negative", -1)):
        add(
            f"state: lists {label}",
            "malformed",
            sealed.seal(dict(birth, lists=value), DEV, command.STATE_DOMAIN).decode(),
            public=pos[-2]["public"],
            type="state",
        )
    seq_birth = next(v for v in pos if v["name"] == "birth announcing seq")
    for label, value in (('a string "41"', "41"), ("negative", -1), ("true", True)):
        add(
            f"state: seq {label}",
            "malformed",
            sealed.seal(
                dict(json.loads(seq_birth["sealed"]), seq=value), DEV, command.STATE_DOMAIN
            ).decode(),
            public=seq_birth["public"],
            type="state",
        )
    add("topic: wildcard in device id", "bad_device_id", "gl/v1/hh+1/evt/report", type="topic")
    add("topic: unknown channel", "malformed", "gl/v1/hh-1/config", type="topic")
    return out


# RFC 7914 section 11's first PBKDF2-HMAC-SHA256 vector (c=80000 is left out: it takes minutes
# on a board), then worker-PIN shapes cross-checked with CPython's hashlib.pbkdf2_hmac.
PBKDF2_SOURCE = "RFC 7914 section 11 (the first); the rest from CPython's hashlib.pbkdf2_hmac"
RFC7914_DK = (
    "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
    "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
)


def pbkdf2() -> list[dict[str, Any]]:
    def vec(name: str, pw: str, salt: bytes, n: int, length: int = 32) -> dict[str, Any]:
        dk = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt, n, length).hex()
        return {"name": name, "password": pw, "salt_hex": salt.hex(), "iterations": n,
                "length": length, "dk": dk}  # fmt: skip

    out = [vec("RFC 7914: passwd/salt c=1", "passwd", b"salt", 1, 64)]
    if out[0]["dk"] != RFC7914_DK:
        raise SystemExit("hashlib disagrees with RFC 7914")
    out += [
        vec("c=2, 64 bytes (two blocks)", "passwd", b"salt", 2, 64),
        vec("PIN 1234, 16-byte salt, c=20000", "1234", bytes(range(16)), 20000),
        vec("PIN 000000, c=1000", "000000", bytes(range(255, 239, -1)), 1000),
        vec("key longer than a block (hashed first)", "9" * 100, b"s", 3),
        vec("UTF-8 password", "口令1234", b"grid-330102", 5),
    ]
    return out


def main() -> None:
    _check_rfc()
    vdir = ROOT / "protocol" / "vectors"
    pos = positive()
    files = {
        "rfc8032.json": {"source": "RFC 8032 section 7.1", "vectors": RFC8032},
        "positive.json": {"vectors": pos},
        "negative.json": {"vectors": negative(pos)},
        "pbkdf2.json": {"source": PBKDF2_SOURCE, "vectors": pbkdf2()},
    }
    for name, content in files.items():
        text = json.dumps(content, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        (vdir / name).write_text(text, encoding="utf-8")
        print(f"{name}: {len(content['vectors'])} vectors")


if __name__ == "__main__":
    main()
