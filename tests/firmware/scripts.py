"""Snippets of the MicroPython test scripts (they run on the unix port and, where noted, on
CPython): prepend them to a script."""

KEY = "fdd476a09e382815807afc797d3170c414be37a2af58f9d273e35f13fcac7dbd"

# wait on a condition instead of sleeping a fixed time (MicroPython and CPython)
WAIT_UNTIL = """
import asyncio

async def wait_until(cond, timeout_s=10.0, every_s=0.01):
    # poll cond() every every_s; AssertionError once about timeout_s passed (counted in
    # polls, so a slow machine waits longer, never less)
    for _ in range(int(timeout_s / every_s)):
        if cond():
            return
        await asyncio.sleep(every_s)
    if not cond():
        raise AssertionError("timed out waiting for a condition")
"""

# a Device on a fake link: sys.argv[1] is the config (the dev_cfg fixture), hub_seed signs
DEVICE = """
import json, sys, asyncio, os, hashlib, binascii
import hal
import device
from device import Device
from protocol import chunking, command, crypto, envelope
cfg = json.load(open(sys.argv[1]))
hub_seed = bytes(range(32)); cfg["hub_key"] = crypto.public_key(hub_seed).hex()
h = hal.build(cfg)

class FakeLink:
    def __init__(self, f, **kw):
        self.sent = 0
        self.frames = []
    def is_up(self): return True
    async def wait_up(self): pass
    async def publish(self, topic, payload, qos=1, retain=False, timeout=10, keep=True):
        self.sent += 1
        if hasattr(payload, "parts"):  # a chunk frame streamed from its file (upload._Frame)
            payload = b"".join([bytes(p) for p in payload.parts()])
        self.frames.append((topic, bytes(payload)))

class NoLink(FakeLink):
    def is_up(self): return False
"""
