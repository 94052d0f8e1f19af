"""protocol/bundle.py cases that run unchanged on CPython and the MicroPython unix port
(test_bundle.py runs this file under both and compares the output line by line).

    micropython tests/protocol/bundle_cases.py      (from the repo root)
"""

import hashlib
import sys

sys.path.insert(0, ".")  # the repo root (the cwd): protocol/

from protocol import bundle, crypto
from protocol.errors import MalformedError

OPS = b"\x33" * 32
OTHER = b"\x44" * 32
BODY = b"print('hello')\n"


def entry(path, data=BODY):
    return bundle.file_entry(path, hashlib.sha256(data).digest().hex(), len(data))


def manifest(**over):
    files = over.pop("files", [entry("main.py"), entry("lib/device.py")])
    m = bundle.build(
        "gridlink-fw",
        over.pop("version", "0.2.0"),
        over.pop("kinds", ["handheld"]),
        over.pop("hw", ["sim-unix"]),
        files,
    )
    m.update(over)
    return m


def reason(fn, *args):
    try:
        fn(*args)
    except bundle.BundleError as e:
        return e.reason
    except MalformedError as e:
        return "malformed:" + e.message
    return "ok"


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


def main():
    pk = crypto.public_key(OPS)
    data = bundle.seal(manifest(), OPS)
    m = bundle.open(data, pk)
    print("files", [f["path"] for f in m["files"]])
    print("digest", bundle.digest(data))
    print("sealed", bundle.digest(bundle.seal(manifest(), OPS)) == bundle.digest(data))
    print("wrong key", reason(bundle.open, data, crypto.public_key(OTHER)))
    altered = bytearray(data)
    i = bytes(altered).index(b"0.2.0")
    altered[i + 4] = ord("1")
    print("altered byte", reason(bundle.open, bytes(altered), pk))
    unsigned = data[: data.index(b',"sig"')] + data[data.index(b',"v"') :]
    print("unsigned", reason(bundle.open, unsigned, pk))
    print("not json", reason(bundle.open, b"\x00\x01", pk))
    print("kind", reason(bundle.accept, m, "access", "sim-unix", "0.1.0"))
    print("hw", reason(bundle.accept, m, "handheld", "esp32", "0.1.0"))
    print("any hw", reason(bundle.accept, manifest(hw=["*"]), "handheld", "esp32", "0.1.0"))
    print("older", reason(bundle.accept, m, "handheld", "sim-unix", "0.10.0"))
    print("same", reason(bundle.accept, m, "handheld", "sim-unix", "0.2.0"))
    print("newer", reason(bundle.accept, m, "handheld", "sim-unix", "0.1.9"))
    print(
        "hub too old",
        reason(bundle.accept, manifest(min_hub=2), "handheld", "sim-unix", "0.1.0", 1),
    )
    for v in ("1.2", "01.2.3", "1.2.x", "1.2.3.4", 123):
        print("version", v, reason(bundle.parse_version, v))
    for p in (
        "../x.py",
        "/abs.py",
        "a//b.py",
        "a/./b.py",
        "a b.py",
        "ok/fine_1-2.py",
        "manifest.json",
        "lib/x.py.part",
        "x.part",
        "lib/manifest.json",
    ):
        print("path", p, reason(bundle.validate_path, p))
    backwards = manifest()
    backwards["files"] = [backwards["files"][1], backwards["files"][0]]
    print("unsorted", reason(bundle.parse, bundle.seal(backwards, OPS)))
    print(
        "dup",
        reason(bundle.build, "n", "1.0.0", ["handheld"], ["*"], [entry("a.py"), entry("a.py")]),
    )
    buf = bytearray(4)
    print("file ok", reason(bundle.check_file, Reader(BODY), entry("main.py"), buf))
    print("file bad", reason(bundle.check_file, Reader(BODY[:-1] + b"!"), entry("main.py"), buf))
    print("file long", reason(bundle.check_file, Reader(BODY + b"x"), entry("main.py"), buf))
    sha = bundle.digest(data)
    req = bundle.fetch_request(sha, 3, 4096)
    print("request", req, bundle.parse_fetch_request(req))
    print("request cs", reason(bundle.fetch_request, sha, 0, 100))
    print("request extra", reason(bundle.parse_fetch_request, req[:-1] + b',"x":1}'))
    refusal = bundle.fetch_error(sha, 3, "not_offered")
    print("reply error", reason(bundle.parse_fetch_reply, refusal))
    args = bundle.command_args("r-1", sha, len(data), "0.2.0")
    print("args", sorted(args), reason(bundle.check_command_args, dict(args, size=0)))
    body = bundle.event_body("r-1", sha, "0.2.0", "failed", "bad_file", 10, 20)
    print("body", sorted(body), reason(bundle.check_event_body, dict(body, state="done")))
    print("done")


main()
