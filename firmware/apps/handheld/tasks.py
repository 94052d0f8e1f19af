"""The handheld's tasks from the centre (下发任务) and broadcast notices (通知), imported only
when the first one arrives (or a restart finds tasks kept in state): a 192K handheld with the
OTA loader has no heap for code it does not run.

A `task` command carries the text, location, deadline and up to 4 reference images by
{sha256, size, mime}. The images are pulled in the background over the firmware channel
(lib/pull.py, itself imported only for that and forgotten after), each checked by its hash
before it takes its name; what a lost link or a silent hub left is tried again every
FETCH_RETRY_S; the hub's refusal (the task was cancelled) ends the tries for that image.

    t = Tasks(handheld); await t.on_task(cmd); await t.ready(task_id); t.forget(task_id)
"""

import asyncio
import gc
import sys

import log as log_mod
from compat import exists, remove

_log = log_mod.getLogger("tasks")
MAX_TASKS = 8  # open tasks kept in state (the oldest goes first: the state is held in RAM)
MAX_NOTICES = 10  # broadcast notices kept in state for the screen
IMAGE_WAIT_MS = 20000  # how long a task's prompt waits for its images before it is asked
FETCH_RETRY_S = 30


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
        if task["loc"]:
            ui.show("at %s, %s" % (task["loc"].get("lat_e6"), task["loc"].get("lon_e6")))
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
        if not self.fetching:
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
                    except MemoryError:  # no heap for lib/pull.py or a reply now: later
                        _log.warning("reference images of %s: no heap, later", tid)
                    task = self._tasks().get(tid)
                    left = left or bool(task and self.missing(task))
                self._forget_pull()  # its code and buffers back to the heap
                if not left:
                    return
                await asyncio.sleep(FETCH_RETRY_S)
        finally:
            self.fetching = False

    def _forget_pull(self):
        if self.pull is not None:
            self.pull = None
            sys.modules.pop("pull", None)
            gc.collect()

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
        from pull import Pull, Refused

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
