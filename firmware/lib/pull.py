"""Pull: fetch a blob the hub offers this device by SHA-256 over the firmware channel
(gl/v1/{dev}/fwreq -> gl/v1/{dev}/fw, protocol/bundle.py), into a file, chunk by chunk,
resumed from what is on flash, checked against the hash before it takes its name.

A handheld pulls the reference images of its tasks this way (docs/firmware.md, "Tasks"):
the signed `task` command names each image's sha256 and size, so nothing but the hash needs
trusting. Device hands every gl/v1/{dev}/fw message to `on_reply` (the OTA fetch sees it too;
each ignores answers to requests it did not send).

    p = Pull(dev_id, link); device.add_fw_listener(p)
    await p.get(sha, size, path)      # True when path holds exactly those bytes
"""

import asyncio
import binascii
import hashlib
import json
import os

import log as log_mod
from compat import exists, remove

from protocol import chunking, topics
from protocol.errors import ProtocolError

_log = log_mod.getLogger("pull")
REPLY_TIMEOUT_S = 15
# bytes a request asks for: a reply frame is allocated whole by the MQTT reader, and on a
# 192K handheld with its upload under way a 4 KiB block is often not free in one piece
CHUNK = 1024
TRIES = 8  # requests of one chunk before the pull gives up (it is tried again later)


class Refused(Exception):
    """The hub will not serve the blob (the task was cancelled, or it never offered it)."""


class Pull:
    def __init__(self, dev, link):
        self.link = link
        self.topic = topics.fwreq(dev)
        self._want = None
        self._reply = None
        self._got = asyncio.Event()
        self.requests = 0

    def on_reply(self, payload):
        # protocol/bundle.py parses these too; it is not imported here: too big for the heap
        if self._want is None:
            return
        if payload[:1] == b"{":  # the hub's refusal {"error", "i", "sha"}
            try:
                obj = json.loads(payload)
            except ValueError:
                return
            if (obj.get("sha"), obj.get("i")) == self._want:
                self._reply = Refused("hub_" + str(obj.get("error"))[:32])
                self._got.set()
            return
        try:
            sha, i, total, data = chunking.parse_frame(payload)
        except ProtocolError:
            return
        if (sha, i) != self._want:
            return
        self._reply = (total, data)  # a view into the payload: no copy
        self._got.set()

    async def _chunk(self, sha, i, n):
        # the request as protocol.bundle.fetch_request writes it (canonical JSON)
        req = ('{"cs":%d,"i":%d,"sha":"%s"}' % (CHUNK, i, sha)).encode()
        for _ in range(TRIES):
            if not self.link.is_up():  # the caller tries again later: never waits for the link
                raise OSError("link down")
            self._want, self._reply = (sha, i), None
            self._got.clear()
            try:
                await self.link.publish(self.topic, req, 1)
                self.requests += 1
                await asyncio.wait_for(self._got.wait(), REPLY_TIMEOUT_S)
            except asyncio.TimeoutError:
                continue
            except OSError:
                await asyncio.sleep(1)
                continue
            finally:
                self._want = None
            r, self._reply = self._reply, None
            if isinstance(r, Refused):
                raise r
            if r[0] != n:
                raise Refused("hub says %d chunks, want %d" % (r[0], n))
            return r[1]
        raise OSError("no reply for chunk %d of %s" % (i, sha[:12]))

    async def get(self, sha, size, path):
        """Fetch blob sha (size bytes) to path; True when it is there and checked. A partial
        file (path.part) is resumed from its last whole chunk."""
        if exists(path):
            return True
        part = path + ".part"
        have = os.stat(part)[6] if exists(part) else 0
        if have > size:
            remove(part)
            have = 0
        n = chunking.chunk_count(size, CHUNK)
        f = open(part, "r+b" if have else "wb")
        try:
            for i in range(have // CHUNK, n):
                data = await self._chunk(sha, i, n)
                want = size - i * CHUNK if i == n - 1 else CHUNK
                if len(data) != want:
                    raise Refused("chunk %d has %d bytes, want %d" % (i, len(data), want))
                f.seek(i * CHUNK)
                f.write(data)
                data = None
                f.flush()
        finally:
            f.close()
        if _sha_of(part) != sha:
            remove(part)  # never kept under the name: fetched again from the start
            _log.warning("image %s failed its hash check", sha[:12])
            return False
        os.rename(part, path)
        return True


def _sha_of(path):
    h = hashlib.sha256()
    buf = bytearray(512)
    mv = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(mv[:n])
    return binascii.hexlify(h.digest()).decode()
