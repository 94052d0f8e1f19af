"""lib/fetch.py on MicroPython against a fake link that serves chunks at once (real flash
files, no broker): the download's expiry on the tick counter (review #6), an inactive slot
reused only when job.json says the swap started (review #7), the fwreq topic built once
(review #11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SCRIPT = """
import sys, json, asyncio, os
import fetch
from compat import exists
from protocol import chunking, topics

root = sys.argv[1]
what = sys.argv[2]
fw = root + "/fw"
SHA = "ab" * 32
calls = []
real_fwreq = topics.fwreq
def counting_fwreq(dev):
    calls.append(dev)
    return real_fwreq(dev)
topics.fwreq = counting_fwreq

class Clock:
    offset_s = 0
    def time(self):
        return 1000 + self.offset_s

class Link:
    def __init__(self):
        self.f = None
        self.sent = []
    def is_up(self): return True
    async def wait_up(self): pass
    async def publish(self, topic, payload, qos=1, retain=False):
        self.sent.append((topic, bytes(payload)))
        if what == "serve":
            i = len(self.sent) - 1
            host.clock.offset_s += 10 ** 6  # a time_sync after every request
            self.f.on_reply(chunking.pack_header(bytes.fromhex(SHA), i, 3) + b"x" * 8)

class Host:
    def __init__(self):
        self.root = root
        self.dev = "hh-fetch"
        self.fw = "0.1.0"
        self.boot = {"slot": "a", "version": "0.1.0", "trial": None}
        self.clock = Clock()
        self.link = Link()
    def opt(self, k):
        return {"ops_key": "11" * 32, "app": "handheld", "hw": "generic"}.get(k)

host = Host()
reports = []
async def report(b):
    reports.append(b)
f = fetch.Fetch(host, report)
host.link.f = f
job = json.load(open(fw + "/job.json"))

async def main():
    if what == "serve":
        f.buf = bytearray(512)
        left = job["exp"] - host.clock.time()
        import time
        f._until = time.ticks_add(time.ticks_ms(), left * 1000)
        got = []
        for i in range(3):
            got.append(bytes(await f._request(SHA, i, 512, 3, job)))
        print("GOT", len(got), "FWREQ", len(calls), "TOPICS", set(t for t, _ in host.link.sent))
    else:
        ok = await f.update(job)
        print("OK", ok, "STAGE", sorted(os.listdir(fw + "/stage")) if exists(fw + "/stage")
              else None, "B", exists(fw + "/b"), "SENT", len(host.link.sent))
        print("REPORTS", [(r["state"], r["reason"]) for r in reports])
asyncio.run(main())
"""


def _flash(tmp: Path, job: dict, slot_b: bool = True) -> Path:
    fw = tmp / "flash" / "fw"
    (fw / "a").mkdir(parents=True)
    (fw / "boot.json").write_text(
        json.dumps({"slot": "a", "version": "0.1.0", "trial": None, "rolled_back": None})
    )
    (fw / "job.json").write_text(json.dumps(job))
    if slot_b:  # a build that was rolled back, left in the inactive slot: its manifest matches
        (fw / "b").mkdir()
        (fw / "b" / "manifest.json").write_text("not a signed manifest")
        (fw / "b" / "main.py").write_text("print('old build')\n")
    return tmp / "flash"


def _job(manifest: str, **over: object) -> dict:
    job = {"rollout": "r-1", "manifest": manifest, "version": "0.2.0", "size": 21, "cs": 512,
           "exp": 1600}  # fmt: skip
    job.update(over)
    return job


SLOT_SHA = __import__("hashlib").sha256(b"not a signed manifest").hexdigest()


def test_a_clock_jump_never_expires_a_download_and_the_topic_is_built_once(
    run_mpy, tmp_path
) -> None:
    root = _flash(tmp_path, _job("ab" * 32), slot_b=False)
    out = run_mpy(SCRIPT, root, "serve", heapsize="1M")
    # each request was followed by an 11-day jump of the wall clock: still served (the
    # expiry is on ticks); topics.fwreq ran once, in Fetch(), not per request
    assert "GOT 3 FWREQ 1 TOPICS {'gl/v1/hh-fetch/fwreq'}" in out, out


@pytest.mark.parametrize("swap", [False, True])
def test_a_matching_inactive_slot_is_reused_only_once_the_swap_started(
    run_mpy, tmp_path, swap: bool
) -> None:
    job = _job(SLOT_SHA, exp=0)  # expired: the first request fails, nothing else happens
    if swap:
        job["swap"] = 1  # a cut between the swap's rename and its commit
    root = _flash(tmp_path, job)
    out = run_mpy(SCRIPT, root, "update", heapsize="1M")
    if swap:
        # the slot is the staged download again: its (bad) manifest is checked, refused
        assert "OK False STAGE None B False SENT 0" in out, out
        assert "REPORTS [('failed', 'malformed')]" in out, out
    else:
        # a build left there (rolled back) is never renamed into stage/: downloaded afresh
        assert "OK False STAGE None B True SENT 0" in out, out
        assert "REPORTS [('failed', 'download: expired at chunk 0')]" in out, out
        assert (root / "fw" / "b" / "main.py").exists()
