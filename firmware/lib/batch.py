"""Batcher: gate events into one signed `access` envelope per batch (docs/access.md sec. 3).

    b = Batcher(emit, root + "/batch.jsonl", n=8, t_s=5, state=device.state)
    b.add(ev, media=(path, mime), hist=False)   # sync, never signs: the gate's decision path
    b.add(alarm, hist=hist, close=True)         # an alarm closes the batch at once
    asyncio.create_task(b.run())                # signs and stores closed batches

A batch closes at `n` events, `t_s` seconds after its first event, on an alarm, when the
live / historical flag changes, or before a 17th capture photo (MAX_BLOBS per envelope).
`emit(events, media, hist, extra)` is awaited for each closed batch in order (Device.emit
signs it and saves `extra` with the new chain head).

The journal on flash is the only copy of an event until it is signed: add() appends one
JSON line [n, event, media, hist, mark, close] and keeps only counters in RAM, so a backlog
of unsigned batches (signing slower than the rush) costs flash, never heap; a batch is read
back from the journal when it is signed. At boot the journal's events above the last
emitted number are batched again.

Exactly once across a power cut. Before a batch is emitted, a seal line ["s", seq, last n]
names the seq the envelope will get (state "seq" + 1: Device.emit takes the next seq and
saves it, "batch_n" and the chain head in one state write, without yielding, so nothing else
can take that seq in between). A cut after the outbox write but before that state save
leaves the envelope in the outbox; the Device adopts its seq at boot (Device._reconcile),
and the seal line then says its events are already signed: they are not batched again. A
seal line whose seq the state has not reached is a batch that was never stored: dropped at
boot, its events batched again.
"""

import asyncio
import gc
import json
import time

from compat import exists, remove, replace

from protocol.limits import MAX_BLOBS


class Batcher:
    def __init__(self, emit, path, n=8, t_s=5, state=None):
        self.emit = emit
        self.path = path
        self.n = n
        self.t_ms = int(t_s * 1000)
        self.state = state
        # the open batch, as counters: its first number, events, captures, hist flag
        self.c_lo = 0
        self.c_n = 0
        self.c_blobs = 0
        self.c_hist = False
        self.ready = []  # closed batches, oldest first: (first n, last n, hist)
        self.t0 = 0
        self.seq_n = 0
        self.emitted = 0
        self.done_n = state.get("batch_n", 0) if state is not None else 0
        self.marker = None  # () -> an app mark kept with each event (a scenario position)
        self._mark = state.get("batch_mark", None) if state is not None else None
        self._ev = asyncio.Event()
        self._busy = False
        self._restore()

    def _restore(self):
        if not exists(self.path):
            return
        seq = self.state.get("seq", 0) if self.state is not None else 0
        done = self.done_n
        for row in _rows(self.path):
            if row[0] == "s":
                if row[1] <= seq and row[2] > done:  # signed, its state save cut off
                    done = row[2]
            elif row[0] > self.seq_n:
                self.seq_n = row[0]
                self._mark = row[4]
        self.done_n = done
        if self.seq_n < done:
            self.seq_n = done
        self._compact()  # drops seal lines and signed rows before anything is emitted
        for row in _rows(self.path):
            self._put(row[0], row[2], row[3], len(row) > 5 and row[5])

    def mark(self):
        """The app mark of the newest event journaled or signed (None: none yet)."""
        return self._mark

    def __len__(self):
        return self.c_n + sum(b[1] - b[0] + 1 for b in self.ready)

    def idle(self):
        return not self.c_n and not self.ready and not self._busy

    def add(self, ev, media=None, hist=False, close=False):
        """Queue an event (its `blob` set to its capture's index when `media` is given)."""
        self.seq_n += 1
        hist = bool(hist)
        mark = self.marker() if self.marker else None
        with open(self.path, "a") as f:
            f.write(json.dumps([self.seq_n, ev, media, hist, mark, close]))
            f.write("\n")
        self._put(self.seq_n, media, hist, close)
        self._ev.set()

    def _put(self, k, media, hist, close):
        if self.c_n and (hist != self.c_hist or (media and self.c_blobs >= MAX_BLOBS)):
            self.close()
        if not self.c_n:
            self.t0 = time.ticks_ms()
            self.c_lo = k
            self.c_hist = hist
            self.c_blobs = 0
        self.c_n += 1
        if media:
            self.c_blobs += 1
        if close or self.c_n >= self.n:
            self.close()

    def close(self):
        """Close the open batch (it is signed next)."""
        if self.c_n:
            self.ready.append((self.c_lo, self.c_lo + self.c_n - 1, self.c_hist))
            self.c_n = 0
            self._ev.set()

    def set_hist(self, hist):
        """The device went live / historical: an open batch of the other kind closes."""
        if self.c_n and self.c_hist != bool(hist):
            self.close()

    def due_ms(self):
        """Milliseconds until the open batch is due (None without one)."""
        if not self.c_n:
            return None
        return self.t_ms - time.ticks_diff(time.ticks_ms(), self.t0)

    async def run(self):
        while True:
            if self.ready:
                await self._emit(self.ready[0])
                continue
            due = self.due_ms()
            if due is not None and due <= 0:
                self.close()
                continue
            self._ev.clear()
            try:
                await asyncio.wait_for(self._ev.wait(), (due if due is not None else 60000) / 1000)
            except asyncio.TimeoutError:
                pass

    async def flush(self):
        """Close the open batch and emit every closed one (at the end of a run)."""
        self.close()
        while self.ready:
            await self._emit(self.ready[0])

    async def _emit(self, b):
        self._busy = True
        try:
            lo, hi, hist = b
            events = []
            media = []
            mark = None
            rows = _rows(self.path)
            for row in rows:
                if row[0] == "s" or row[0] < lo:
                    continue
                if row[0] > hi:
                    break
                ev = row[1]
                if row[2]:
                    ev["blob"] = len(media)
                    media.append(row[2])
                events.append(ev)
                mark = row[4]
            rows.close()  # closes the journal now, not when the generator is collected
            rows = None
            if events:
                # signing builds a few KiB of contiguous strings: collect first, once a batch,
                # so they find room in a small heap that the decision path left fragmented
                gc.collect()
                seq = self.state.get("seq", 0) + 1 if self.state is not None else 0
                with open(self.path, "a") as f:  # the seal line, then at once the emit
                    f.write(json.dumps(["s", seq, hi]))
                    f.write("\n")
                th = _lift_threshold()
                try:
                    await self.emit(events, media, hist, {"batch_n": hi, "batch_mark": mark})
                finally:
                    _restore_threshold(th)
            events = media = None
            self.done_n = hi
            self.emitted += 1
            self.ready.pop(0)
            self._compact()
        finally:
            self._busy = False

    def _compact(self):
        # the journal without signed rows and seal lines (streamed: one line in RAM at a time)
        if not exists(self.path):
            return
        tmp = self.path + ".tmp"
        k = 0
        with open(tmp, "w") as out:
            for line in _lines(self.path):
                row = _parse(line)
                if row is None or row[0] == "s" or row[0] <= self.done_n:
                    continue
                out.write(line)
                k += 1
        if k:
            replace(tmp, self.path)
        else:
            remove(tmp)
            remove(self.path)


def _lift_threshold():
    # A signature in pure Python makes ~0.6 MB of short-lived big ints and keeps ~3 KB (the
    # sealed envelope). Under main.py's gc.threshold (a collection every 4 KiB allocated, so
    # that garbage never interleaves with long-lived objects in a small heap) that is ~150
    # collections of the whole heap a batch: ~250 ms of a gate's time (docs/access.md,
    # "Where a read's time goes"). Around the emit the heap collects only when it is full,
    # and once after it, so the signature's garbage is gone before the decision path
    # allocates again. None where gc has no threshold (CPython).
    th = getattr(gc, "threshold", None)
    if th is None:
        return None
    cur = th()
    th(-1)
    return cur


def _restore_threshold(cur):
    if cur is not None:
        gc.threshold(cur)
        gc.collect()


def _lines(path):
    if not exists(path):
        return
    with open(path) as f:
        for line in f:
            if line.endswith("\n"):  # a line without its newline is the one a cut tore
                yield line


def _parse(line):
    try:
        return json.loads(line)
    except ValueError:
        return None


def _rows(path):
    for line in _lines(path):
        row = _parse(line)
        if row is not None:
            yield row
