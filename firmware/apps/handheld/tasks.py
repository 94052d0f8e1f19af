"""The handheld's tasks from the centre (下发任务) and broadcast notices (通知), imported only
when the first one arrives (or a restart finds tasks kept in state): a 192K handheld with the
OTA loader has no heap for code it does not run.

A `task` command carries the text, location, deadline and up to 4 reference images by
{sha256, size, mime}. The images are pulled in the background (Pull, below) over the firmware
channel (gl/v1/{dev}/fwreq -> gl/v1/{dev}/fw, as protocol/bundle.py writes the requests), 1 KiB
at a time into <path>.part, resumed from its last whole chunk, and checked against the hash
before they take their name; what a lost link or a silent hub left is tried again every
FETCH_RETRY_S; the hub's refusal (the task was cancelled) ends the tries for that image.

Pull is the download of lib/fetch.py made small (no job, no manifest, no deadline): importing
fetch.py, the OTA's, for a photo would cost the heap more than these lines. One module, not
two: with the pull in a file of its own a 192K handheld with the loader failed to check `ota`
commands in the OTA tests (docs/firmware.md, "Tasks").

    t = Tasks(handheld); await t.on_task(cmd); await t.ready(task_id); t.forget(task_id)
"""

import asyncio
import binascii
import hashlib
import json
import os
import time

import log as log_mod
from compat import exists, remove

from protocol import chunking, topics
from protocol.errors import ProtocolError

_log = log_mod.getLogger("tasks")
MAX_TASKS = 8  # open tasks kept in state (the oldest goes first: the state is held in RAM)
MAX_NOTICES = 10  # broadcast notices kept in state for the screen
IMAGE_WAIT_MS = 90000  # how long a task's prompt waits for its images before it is asked
FETCH_RETRY_S = 30
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


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _deg(e6):
    """Micro-degrees as degrees, exactly (no float: a board's may be single precision)."""
    a = -e6 if e6 < 0 else e6
    return "%s%d.%06d" % ("-" if e6 < 0 else "", a // 1000000, a % 1000000)


def _due(deadline, now, tz):
    """'due 01-05 17:00, in 8h00m': the deadline (Unix seconds) in local time (tz_offset_s),
    and what is left of it on the device's clock; 'overdue' once it has passed."""
    epoch = 946684800 if time.gmtime(0)[0] == 2000 else 0  # a port counting from 2000
    t = time.gmtime(deadline + tz - epoch)
    left = deadline - now
    if left <= 0:
        rel = "overdue"
    elif left >= 86400:
        rel = "in %dd%02dh" % (left // 86400, left % 86400 // 3600)
    else:
        rel = "in %dh%02dm" % (left // 3600, left % 3600 // 60)
    return "due %02d-%02d %02d:%02d, %s" % (t[1], t[2], t[3], t[4], rel)


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


class Tasks:
    def __init__(self, hh):
        self.hh = hh
        self.device = hh.device
        self.pull = None
        self.fetching = False  # the background fetch task runs

    def _tasks(self):
        return self.device.state.get("tasks", None) or {}

    def _save(self, tasks):
        self.device.state.set("tasks", tasks)
        self.device.state.save()

    async def on_command(self, cmd):
        return await (self.on_task(cmd) if cmd["op"] == "task" else self.on_notice(cmd))

    async def on_task(self, cmd):
        a = cmd["args"]
        images = [i for i in (a.get("images") or []) if isinstance(i, dict)][:4]
        task = {"task_id": a.get("task_id") or cmd["id"], "case_id": a.get("case_id"),
                "title": a.get("title", ""), "text": a.get("text", ""), "loc": a.get("loc"),
                "deadline": a.get("deadline"), "images": images, "seen": [],
                "status": "new"}
        tasks = self._tasks()
        n = self.device.state.get("task_n", 0) + 1
        task["n"] = n
        tasks[task["task_id"]] = task
        while len(tasks) > MAX_TASKS:  # the oldest one goes (and its images)
            old = min(tasks, key=lambda k: tasks[k].get("n", 0))
            self.drop_images(tasks.pop(old), tasks)
        self.device.state.set("task_n", n)
        self._save(tasks)
        ui = self.hh.ui
        ui.show("new task %s: %s" % (task["task_id"], task["title"]))
        if task["text"]:
            ui.show(task["text"])
        loc = task["loc"]
        if isinstance(loc, dict) and _is_int(loc.get("lat_e6")) and _is_int(loc.get("lon_e6")):
            ui.show("at %s, %s" % (_deg(loc["lat_e6"]), _deg(loc["lon_e6"])))
        if _is_int(task["deadline"]):
            ui.show(_due(task["deadline"], self.device.clock.time(),
                         self.device.opt("tz_offset_s") or 0))
        self.hh.prompt("task", {"task_id": task["task_id"], "case_id": task["case_id"]})
        if images:
            self.kick()
        return "delivered"

    async def on_notice(self, cmd):
        a = cmd["args"]
        notice = {"id": a.get("notice_id") or cmd["id"], "title": a.get("title", ""),
                  "text": a.get("text", "")}
        notices = self.device.state.get("notices", None) or []
        notices.append(notice)
        self.device.state.set("notices", notices[-MAX_NOTICES:])
        self.device.state.save()
        self.hh.ui.show("notice: %s" % notice["title"])
        self.hh.ui.show(notice["text"])
        return "delivered"

    # --- reference images ----------------------------------------------------------------------

    def on_reply(self, payload):
        if self.pull is not None:
            self.pull.on_reply(payload)

    def kick(self):
        """Start the background fetch unless it runs (it ends when nothing is left)."""
        if not self.fetching and [t for t in self._tasks().values() if self.missing(t)]:
            self.fetching = True
            asyncio.create_task(self._fetcher())

    def _path(self, sha, mime):
        return "%s/ref-%s.%s" % (self.device.media_dir, sha[:16],
                                 "png" if mime == "image/png" else "jpg")

    def missing(self, task):
        done = task.get("seen", []) + task.get("refused", [])
        return [i for i in task.get("images", []) if i.get("sha256") not in done]

    async def _fetcher(self):
        try:
            while not self.hh.done:
                left = False
                for tid in list(self._tasks()):
                    try:
                        if self.device.link.is_up():
                            await self.fetch(tid)
                    except MemoryError:  # no heap for a reply now: later
                        _log.warning("reference images of %s: no heap, later", tid)
                    task = self._tasks().get(tid)
                    left = left or bool(task and self.missing(task))
                self.pull = None  # its buffers back to the heap
                if not left:
                    return
                await asyncio.sleep(FETCH_RETRY_S)
        finally:
            self.fetching = False
            self.hh.release_tasks()

    async def ready(self, tid):
        """Give the task's images up to IMAGE_WAIT_MS before its prompt (so `seen` names what
        the worker saw)."""
        waited = 0
        while waited < IMAGE_WAIT_MS:
            task = self._tasks().get(tid)
            if not task or not self.missing(task) or not self.device.link.is_up():
                return
            await asyncio.sleep_ms(200)
            waited += 200

    async def fetch(self, tid):
        """Fetch the task's images not on flash yet; each one that passes its SHA-256 check
        goes into the task's `seen` (and is shown)."""
        task = self._tasks().get(tid)
        if not task or not self.missing(task):
            return
        if self.pull is None:
            self.pull = Pull(self.device.dev, self.device.link)
        seen, refused = list(task.get("seen", [])), list(task.get("refused", []))
        for img in self.missing(task):
            sha, size = img.get("sha256"), img.get("size")
            if not isinstance(sha, str) or not isinstance(size, int):
                continue
            try:
                ok = await self.pull.get(sha, size, self._path(sha, img.get("mime")))
            except Refused as e:
                _log.warning("reference image %s of %s refused: %r", sha[:12], tid, e)
                refused.append(sha)
                continue
            except OSError as e:
                _log.warning("reference image %s of %s: %r", sha[:12], tid, e)
                continue
            if ok:
                seen.append(sha)
                self.hh.ui.show("image %s ready (%d bytes)" % (sha[:12], size))
        tasks = self._tasks()
        if tid in tasks:
            tasks[tid]["seen"], tasks[tid]["refused"] = seen, refused
            self._save(tasks)

    def drop_images(self, task, others):
        """Remove the task's images from flash, but not one another task in `others` uses."""
        keep = [i.get("sha256") for t in others.values() for i in t.get("images", [])]
        for img in task.get("images", []):
            if img.get("sha256") in keep:
                continue
            path = self._path(img.get("sha256", ""), img.get("mime"))
            for p in (path, path + ".part"):
                if exists(p):
                    remove(p)

    def forget(self, tid):
        """The task is over on this device (closed or ignored): out of state, images gone."""
        tasks = self._tasks()
        if tid in tasks:
            self.drop_images(tasks.pop(tid), tasks)
            self._save(tasks)
