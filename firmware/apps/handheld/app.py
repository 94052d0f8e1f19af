"""The grid worker's handheld: sign-in, incident reports, patrol track, task inbox,
on-site verification. Driven by the UI of the HAL (buttons + screen on a board, a scenario
script in the simulator); every result is a signed event through the Device.

Event kinds and bodies (see docs/firmware.md):
- signin   {worker, grid, ok} (+ fails, locked when not ok: wrong PINs in a row, the id locked)
- signout  {worker, grid, reason: worker|idle|replaced|removed}
- report   {category, text, loc, grid, worker, one_key}  + blobs: photos, the audio clip,
           then the video clip (video/webm, at most config "video_max_s" seconds)
- track    {grid, worker, points: [[ts, lat_e6, lon_e6, acc_m], ...]}
- task     {task_id, case_id, step: accept|progress|close, text, loc, grid, worker} (+ photo
           on close; `seen` on accept: the sha256 of the reference images fetched and checked)
- verify   {case_id, task_id, result: confirm|reject, loc, text, grid, worker} + photo
- visit, collect: apps/handheld/field.py (household visits, door-to-door collection)
"""

import asyncio
import os
import time

from device import _forget

_ANSWERS_TASK = ("accept", "close", "ignore")
_ANSWERS_VERIFY = ("confirm", "reject")


class Handheld:
    def __init__(self, device, hal, cfg):
        self.device = device
        self.hal = hal
        self.cfg = cfg
        self.ui = hal.ui
        self.grid = cfg.get("grid", "")
        self.worker = device.state.get("worker", None)
        self.points = []
        self.shots = device.state.get("shots", 0)
        self.done = False
        device.on_command("task", self._cmd_field)
        device.on_command("verify", self._cmd_verify)
        device.on_command("notice", self._cmd_field)
        device.on_command("workers", self._cmd_workers)
        self.active = time.ticks_ms()  # the worker's last action (idle sign-out)
        # in every heartbeat: the hub's worker list held here ("": none yet, or reflashed)
        device.status["workers"] = device.state.get("workers_v", None) or ""
        # tasks, their reference images and notices: apps/handheld/tasks.py, imported when the
        # first one arrives (the heap of a 192K handheld is tight)
        self.tasks = None
        self._answering = False  # one answerer at a time (run() and _inputs() both drain)
        device.fw_listener = self  # gl/v1/{dev}/fw messages: a task's image chunks
        # Prompts raised by hub commands, answered by the worker. Kept in state: the command's
        # cseq is already spent, so a prompt lost in a reboot could never come back.
        self.pending = [tuple(p) for p in (device.state.get("inbox", None) or [])]

    def opt(self, key, default=None):
        v = self.device.opt(key)
        return default if v is None else v

    # --- media ---------------------------------------------------------------------------------

    def _media_path(self, ext):
        # `shots` is saved with the next event; after a power cut it can be behind, so never
        # reuse a name that a queued record may still reference.
        while True:
            self.shots += 1
            path = "%s/m%06d.%s" % (self.device.media_dir, self.shots, ext)
            try:
                os.stat(path)
            except OSError:
                break
        self.device.state.set("shots", self.shots)
        return path

    def photo(self, size=None):
        path, _, mime = self.hal.camera.capture(self._media_path("jpg"), size)
        return path, mime

    def audio(self, seconds):
        path, _, mime = self.hal.microphone.record(self._media_path("wav"), seconds)
        return path, mime

    def video(self, seconds):
        cam = self.hal.camera
        if not hasattr(cam, "record"):
            self.ui.show("this camera records no video")
            return None
        path = self._media_path("webm")
        try:
            path, _, mime = cam.record(path, min(int(seconds), self.opt("video_max_s", 30)))
        except OSError as e:  # no source, flash full: the report goes without the clip
            self.ui.show("video not recorded: %s" % e)
            try:
                os.remove(path)
            except OSError:
                pass
            return None
        return path, mime

    def loc(self):
        fix = self.hal.gps.fix() if self.hal.gps else None
        if not fix:
            return None
        return {"lat_e6": fix["lat_e6"], "lon_e6": fix["lon_e6"], "acc_m": fix["acc_m"]}

    # --- actions -------------------------------------------------------------------------------

    # --- workers (apps/handheld/roster.py, imported for a sign-in or a list and dropped) ----

    def _roster(self):
        from apps.handheld.roster import Roster

        return Roster(self.device)

    def _drop_roster(self):
        _forget("apps.handheld.roster", "protocol.pin")

    async def signin(self, act, pos):
        worker = str(act.get("worker", ""))[:64]
        try:
            ok, fails, locked = self._roster().check(worker, str(act.get("pin", "")),
                                                     self.device.clock.time())
        finally:
            self._drop_roster()
        if locked:
            self.ui.show("too many wrong PINs for %s: try later" % worker)
        else:
            self.ui.show(("signed in: %s" % worker) if ok else "wrong worker id or PIN")
        body = {"worker": worker, "grid": self.grid, "ok": ok}
        extra = {"ui_pos": pos}
        if ok:
            if self.worker is not None and self.worker != worker:
                await self.signout(None, pos, "replaced")
            self.worker = worker
            extra["worker"] = worker
        else:
            body["fails"] = fails
            body["locked"] = locked
            extra["pin_fails"] = self.device.state.get("pin_fails", None)
        await self.device.emit("signin", body, extra=extra)

    async def signout(self, act, pos, reason="worker"):
        if self.worker is None:
            return
        await self.flush_track()
        w, self.worker = self.worker, None
        extra = {"worker": None}
        if pos is not None:
            extra["ui_pos"] = pos
        body = {"worker": w, "grid": self.grid, "reason": reason}
        if reason == "idle":  # the worker's last action: where the hub ends the session
            body["last_active"] = self.device.state.get("active_ts", None)
        await self.device.emit("signout", body, extra=extra)

    async def _cmd_workers(self, cmd):
        """The grid's worker list from the hub: replaces the one on flash; a signed-in worker
        no longer on it is signed out."""
        try:
            r = self._roster()
            detail = r.apply(cmd["args"], self.grid)
            gone = self.worker is not None and self.worker not in r.records()
        finally:
            self._drop_roster()
        v = cmd["args"]["v"]
        self.device.status["workers"] = v  # in heartbeats: the hub sees which list is here
        self.device.state.set("workers_v", v)
        self.device.state.save()
        if gone:
            self.ui.show("%s is no longer on this grid's list" % self.worker)
            await self.signout(None, None, "removed")
        return detail

    async def _idle_check(self, boot=False):
        idle = self.opt("idle_signout_s", 1800)
        if self.worker is None or not idle:
            return
        if boot:  # off (a flat battery, a reboot) since the last action: the clock on flash
            last = self.device.state.get("active_ts", None)
            gone = last is not None and self.device.clock.time() - last > idle
        else:
            gone = time.ticks_diff(time.ticks_ms(), self.active) > idle * 1000
        if gone:
            self.ui.show("signed out after %d s without use" % idle)
            await self.signout(None, None, "idle")

    async def report(self, act, pos):
        cats = self.opt("categories", []) or []
        cat = act.get("category") or (cats[0] if cats else "other")
        if cats and cat not in cats:
            self.ui.show("unknown category %s" % cat)
            return False
        media = []
        for i in range(int(act.get("photos", 1))):
            sizes = act.get("photo_bytes")
            size = sizes[i] if isinstance(sizes, list) else sizes
            media.append(self.photo(size))
        if act.get("audio_s"):
            media.append(self.audio(act["audio_s"]))
        clip = self.video(act["video_s"]) if act.get("video_s") else None
        if clip:
            media.append(clip)
        body = {"category": cat, "text": act.get("text", ""), "loc": self.loc(),
                "grid": self.grid, "worker": self.worker,
                "one_key": bool(act.get("one_key", False))}
        seq = await self.device.emit("report", body, media,
                                     extra={"ui_pos": pos, "shots": self.shots})
        self.ui.show("report %s queued" % seq)
        return True

    async def task_step(self, task, step, text="", pos=None):
        media = [self.photo()] if step == "close" else []
        body = {"task_id": task.get("task_id"), "case_id": task.get("case_id"), "step": step,
                "text": text, "loc": self.loc(), "grid": self.grid, "worker": self.worker}
        tasks = self.device.state.get("tasks", None) or {}
        tid = task.get("task_id")
        if step == "accept" and tid in tasks:
            body["seen"] = tasks[tid].get("seen", [])
        done = None
        if tid in tasks:
            if step == "close":
                done = tasks.pop(tid)
            else:
                tasks[tid]["status"] = step
        extra = {"tasks": tasks, "shots": self.shots}
        if pos is not None:
            extra["ui_pos"] = pos
        await self.device.emit("task", body, media, extra=extra)
        if done is not None and done.get("images"):
            self._tasks().drop_images(done, tasks)
            self.release_tasks()

    async def verify(self, req, result, text="", pos=None):
        body = {"case_id": req.get("case_id"), "task_id": req.get("task_id"), "result": result,
                "loc": self.loc(), "text": text, "grid": self.grid, "worker": self.worker}
        extra = {"shots": self.shots}
        if pos is not None:
            extra["ui_pos"] = pos
        media = [self.photo()]
        await self.device.emit("verify", body, media, extra=extra)

    async def run_action(self, act, pos):
        do = act.get("do")
        if do != "wait":
            self.active = time.ticks_ms()
            self.device.state.set("active_ts", self.device.clock.time())  # saved below
        if do == "signin":
            await self.signin(act, pos)
        elif do == "signout":
            await self.signout(act, pos)
        elif do in ("report", "one_key"):
            if self.worker is None and not self.opt("anonymous_reports", False):
                self.ui.show("sign in first")
            else:
                if do == "one_key":
                    act = dict(act)
                    act["one_key"] = True
                await self.report(act, pos)
        elif do in ("visit", "collect"):  # apps/handheld/field.py, imported for the one
            if self.worker is None:
                self.ui.show("sign in first")
            else:
                from apps.handheld.field import Field

                await getattr(Field(self), do)(act, pos)
                _forget("apps.handheld.field")
        elif do == "verify":
            await self.verify(act, act.get("result", "confirm"), act.get("text", ""), pos)
        elif do == "task":
            tasks = self.device.state.get("tasks", None) or {}
            t = tasks.get(act.get("task_id")) or {"task_id": act.get("task_id"),
                                                  "case_id": act.get("case_id")}
            await self.task_step(t, act.get("step", "accept"), act.get("text", ""), pos)
        elif do == "track":
            await self.flush_track()
        elif do == "burst":
            await self.burst(int(act.get("n", 1)), int(act.get("every_ms", 10)))
        elif do == "end":
            self.done = True
        elif do == "wait":
            await asyncio.sleep_ms(int(act.get("s", 1) * 1000))
        else:
            self.ui.show("unknown action %s" % do)
        st = self.device.state
        if st.get("ui_pos", 0) != pos:
            st.set("ui_pos", pos)
            st.save()

    # --- commands (queued for the worker; the ack means "delivered to the handheld") -------------

    def _tasks(self):
        if self.tasks is None:
            from apps.handheld.tasks import Tasks

            self.tasks = Tasks(self)
        return self.tasks

    async def _cmd_field(self, cmd):  # a task or a notice: apps/handheld/tasks.py
        detail = await self._tasks().on_command(cmd)
        self.release_tasks()
        return detail

    def release_tasks(self):
        """Drop apps/handheld/tasks.py (~7 KB of a 192K heap) unless it is fetching images."""
        if self.tasks is not None and not self.tasks.fetching:
            self.tasks = None
            _forget("apps.handheld.tasks")

    def on_reply(self, payload):
        """A gl/v1/{dev}/fw message: a reference image's chunk (or the hub's refusal)."""
        if self.tasks is not None:
            self.tasks.on_reply(payload)

    async def _cmd_verify(self, cmd):
        a = cmd["args"]
        req = {"case_id": a.get("case_id"), "task_id": a.get("task_id")}
        self.ui.show("verify case %s on site: %s" % (req["case_id"], a.get("text", "")))
        self.prompt("verify", req)
        return "delivered"

    def prompt(self, what, item):
        self.pending.append((what, item))
        self._save_inbox()

    def _save_inbox(self):
        self.device.state.set("inbox", [list(p) for p in self.pending])
        self.device.state.save()

    async def _answer_pending(self):
        if self._answering:  # the other loop is at it: one prompt is never answered twice
            return
        self._answering = True  # an error in _answer ends the run (run() re-raises it)
        while self.pending:
            what, item = self.pending[0]
            await self._answer(what, item)
            self.pending.pop(0)  # answered (a power cut before this asks again)
            self._save_inbox()
        self._answering = False

    async def _answer(self, what, item):
        if what == "task":
            await self._tasks().ready(item["task_id"])  # what the worker sees: `seen`
            self.release_tasks()  # its code off the heap while the steps are signed
            ans = await self.ui.choose("task %s" % item["task_id"], _ANSWERS_TASK, "task")
            if ans == "ignore":
                self._tasks().forget(item["task_id"])
                self.release_tasks()
            else:
                await self.task_step(item, "accept")
                if ans == "close":
                    await self.task_step(item, "progress", "on site")
                    await self.task_step(item, "close", "done")
        else:
            ans = await self.ui.choose("verify %s" % item["case_id"], _ANSWERS_VERIFY, "verify")
            await self.verify(item, ans)

    # --- patrol track --------------------------------------------------------------------------

    async def flush_track(self):
        if not self.points:
            return
        pts, self.points = self.points, []
        await self.device.emit("track", {"grid": self.grid, "worker": self.worker,
                                         "points": pts})

    async def burst(self, n, every_ms=10):
        """n track events, one fix each, every_ms apart (load and delivery tests: small events
        nearly as fast as the device signs; the pause lets the upload keep pace: emit() does
        not yield. A restart in the middle plays the whole burst again)."""
        for _ in range(n):
            fix = self.hal.gps.fix() if self.hal.gps else None
            pts = [[fix["ts"], fix["lat_e6"], fix["lon_e6"], fix["acc_m"]]] if fix else []
            await self.device.emit("track", {"grid": self.grid, "worker": self.worker,
                                             "points": pts})
            await asyncio.sleep_ms(every_ms)

    async def _patrol(self):
        while not self.done:
            period = self.opt("track_s", 30)
            await asyncio.sleep(period or 60)  # 0 = tracking off (re-read every minute)
            if not period or self.worker is None or not self.hal.gps:
                continue
            fix = self.hal.gps.fix()
            if fix:
                self.points.append([fix["ts"], fix["lat_e6"], fix["lon_e6"], fix["acc_m"]])
            if len(self.points) >= self.opt("track_batch", 10):
                await self.flush_track()

    # --- main loop -----------------------------------------------------------------------------

    async def _inputs(self):
        ui = self.ui
        pos = self.device.state.get("ui_pos", 0)
        if hasattr(ui, "pos"):
            ui.pos = pos  # resume a script after a restart
        while not self.done:
            act = await ui.next_action()
            if act is None:
                break
            pos += 1
            await self.run_action(act, pos)
            await self._answer_pending()
        self.script_done = True

    async def run(self):
        self.script_done = False
        self.ui.show("grid %s, worker %s" % (self.grid, self.worker or "-"))
        patrol = asyncio.create_task(self._patrol())
        inputs = asyncio.create_task(self._inputs())
        await self._idle_check(boot=True)
        if self.device.state.get("tasks", None):
            self._tasks().kick()  # tasks kept across a restart may still lack images
        exit_when_done = self.opt("exit_when_done", False)
        try:
            while True:
                await asyncio.sleep_ms(500)
                for t in (patrol, inputs):
                    if t.done() and not self.script_done:
                        await t  # re-raise what killed it: fail loudly, never hang
                await self._answer_pending()
                await self._idle_check()
                if await self.device.supervise():
                    return "reboot"
                if self.done or (self.script_done and exit_when_done):
                    await self.flush_track()
                    if self.device.idle():
                        return "done"
        finally:
            patrol.cancel()
            inputs.cancel()
