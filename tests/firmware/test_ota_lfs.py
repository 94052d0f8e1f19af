"""The OTA swap on littlefs (VfsLfs2) on a RAM block device, the power cut at every block write
(docs/firmware.md, "OTA"): the swap (inactive slot removed, stage renamed, boot.json
committed), the loader's trial count and a rollback. After each cut the flash is mounted
again and the slot the loader chooses holds exactly the files its manifest lists, each with
its size and SHA-256: the old firmware or the new one, never a mix."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from protocol import bundle, crypto
from simulator.fleet import FIRMWARE
from tests.firmware.test_outbox_lfs import BLOCKDEV

OPS = crypto.new_seed()


def _version(version: str, n: int) -> dict:
    files = {}
    for i in range(n):
        # sizes across block boundaries (4 KiB blocks), contents that differ per version
        body = (f"# {version} file {i}\n" * (60 + 97 * i)).encode()
        files[f"lib/m{i}.py" if i else "main.py"] = body
    entries = [
        bundle.file_entry(p, hashlib.sha256(b).hexdigest(), len(b)) for p, b in files.items()
    ]
    manifest = bundle.seal(bundle.build("gridlink-fw", version, ["handheld"], ["*"], entries), OPS)
    return {"manifest": manifest.decode(), "files": {p: b.decode() for p, b in files.items()}}


SWAP_CUT = (
    BLOCKDEV
    + """
import hashlib, json
sys.path.append(sys.argv[2])  # firmware/: the loader (never in a slot), after the compiled tree
import fetch, loader, otacmd

SPEC = json.load(open(sys.argv[1]))

class Dev:  # what Fetch.swap reads of its host (Device, or the updater)
    def __init__(self):
        self.root = "/flash"
        self.dev = "hh-lfs"
        self.fw = "0.1.0"
        self.boot = {"slot": "a", "version": "0.1.0", "trial": None}
    def opt(self, k):
        return {"ota_trial_s": 180, "ops_key": None}.get(k)

def put(d, spec):
    otacmd.makedirs(d)
    with open(d + "/manifest.json", "w") as f:
        f.write(spec["manifest"])
    for p in spec["files"]:
        otacmd.makedirs((d + "/" + p).rsplit("/", 1)[0])
        with open(d + "/" + p, "w") as f:
            f.write(spec["files"][p])

def setup():
    d = fresh(4096, 96)
    vfs.mount(vfs.VfsLfs2(d), "/flash")
    put("/flash/fw/a", SPEC["old"])
    put("/flash/fw/stage", SPEC["new"])
    loader.write_boot("/flash/fw/boot.json", {"slot": "a", "version": "0.1.0", "trial": None,
                                              "rolled_back": None})
    with open("/flash/fw/job.json", "w") as f:
        json.dump({"rollout": "r-1", "manifest": SPEC["sha"], "size": 1, "version": "0.2.0",
                   "cs": 4096, "exp": 0}, f)
    return d

def workload(done):
    o = fetch.Fetch(Dev(), None)
    o.swap({"rollout": "r-1", "manifest": SPEC["sha"], "version": "0.2.0"}, "b")
    done.append("swapped")
    boot, path = loader.choose("/flash")       # the first boot on probation
    if not boot.get("trial"):  # the count was cut: the loader boots the previous slot
        raise OSError(5)
    done.append("counted")
    loader.rollback(path, boot, "crash: E")    # it crashed
    done.append("rolled_back")

def run(budget):
    d = setup()
    d.budget = budget
    done = []
    try:
        workload(done)
    except OSError:
        pass
    try:
        vfs.umount("/flash")
    except OSError:
        pass
    return d, done

def check():
    # what the loader boots, and whether that slot is whole
    boot, path = loader.choose("/flash")
    slot = "/flash/fw/" + boot["slot"]
    with open(slot + "/manifest.json") as f:
        m = json.loads(f.read())
    errors = []
    if m["version"] != boot["version"]:
        errors.append("version %s in a slot of %s" % (boot["version"], m["version"]))
    buf = bytearray(512)
    for e in m["files"]:
        try:
            with open(slot + "/" + e["path"], "rb") as f:
                fetch.bundle.check_file(f, e, buf)
        except (OSError, fetch.bundle.BundleError) as ex:
            errors.append("%s: %r" % (e["path"], ex))
    listed = set(e["path"] for e in m["files"])
    on_flash = set()
    def walk(d, pre):
        for name in os.listdir(d):
            p = d + "/" + name
            if os.stat(p)[0] & 0x4000:
                walk(p, pre + name + "/")
            else:
                on_flash.add(pre + name)
    walk(slot, "")
    on_flash.discard("manifest.json")
    if on_flash != listed:
        errors.append("files %s" % sorted(on_flash ^ listed))
    return boot["version"], errors

d, done = run(-1)
total = d.ops
assert done == ["swapped", "counted", "rolled_back"], done
bad = []
seen = {}
for budget in range(total + 1):
    d, done = run(budget)
    image = RAMFlash(data=d.data, n=96)
    d = None
    vfs.mount(vfs.VfsLfs2(image), "/flash")
    try:
        version, errors = check()
    except Exception as e:
        version, errors = None, [repr(e)]
    vfs.umount("/flash")
    step = done[-1] if done else "cut in the swap"
    seen.setdefault(step, set()).add(version)
    if errors:
        bad.append([budget, step, errors])
print(json.dumps({"total": total, "bad": bad[:3],
                  "seen": {k: sorted(v, key=str) for k, v in seen.items()}}))
"""
)


def test_a_power_cut_at_every_block_write_of_swap_commit_and_rollback_leaves_a_whole_slot(
    run_mpy, tmp_path: Path
) -> None:
    old, new = _version("0.1.0", 5), _version("0.2.0", 6)
    spec = {"old": old, "new": new, "sha": bundle.digest(new["manifest"].encode())}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    out = run_mpy(SWAP_CUT, path, FIRMWARE, heapsize="4M", timeout=300)
    r = json.loads(out.strip().splitlines()[-1])
    assert r["total"] > 30, r  # the cuts land inside removes, the rename and three records
    assert r["bad"] == [], r["bad"]
    seen = r["seen"]
    # a cut inside the swap boots the old firmware or (once boot.json is committed) the new
    assert set(seen["cut in the swap"]) == {"0.1.0", "0.2.0"}, seen
    assert seen["swapped"] == ["0.2.0"] or set(seen["swapped"]) <= {"0.1.0", "0.2.0"}
    assert "0.1.0" in seen["counted"]  # a cut inside the rollback: old or new, both whole
    assert seen["rolled_back"] == ["0.1.0"]
