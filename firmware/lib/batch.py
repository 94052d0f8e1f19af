"""Batcher: gate events into one signed `access` envelope per batch (docs/access.md sec. 3).

    b = Batcher(emit, root + "/batch.jsonl", n=8, t_s=5, state=device.state)
    b.add(ev, media=(path, mime), hist=False)   # sync, never signs: the gate's decision path
    b.add(alarm, hist=hist, close=True)         # an alarm closes the batch at once
    asyncio.create_task(b.run())                # signs and stores closed batches

A batch closes at `n` events, `t_s` seconds after its first event, on an alarm, when the
live / historical flag changes, or before a 17th capture photo (MAX_BLOBS per envelope).
`emit(events, media, hist)` is awaited for each closed batch in order (Device.emit signs it).

Every added event is appended to a journal on flash first (one JSON line
[n, event, media, hist, mark]), so a power cut loses no decision that was not yet signed; at boot
the journal's events above the last emitted number (state "batch_n", saved with the
envelope's chain head) are batched again. A cut between the outbox write and that state save
repeats the batch once (the hub stores both; a window of one file write).
"""

import asyncio
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
        self.cur = []  # [n, ev, media, hist] of the open batch
        self.ready = []  # closed batches, oldest first
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
        rows = []
        with open(self.path) as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:  # the line a power cut tore
                    continue
                if row[0] > self.done_n:
                    rows.append(row)
        self.seq_n = max(self.done_n, rows[-1][0] if rows else 0)
        if rows:
            self._mark = rows[-1][4]
        for row in rows:
            self._put(row, False)
        self._rewrite()

    def mark(self):
        """The app mark of the newest event journaled or signed (None: none yet)."""
        return self._mark

    def __len__(self):
        return len(self.cur) + sum(len(b) for b in self.ready)

    def idle(self):
        return not self.cur and not self.ready and not self._busy

    def add(self, ev, media=None, hist=False, close=False):
        """Queue an event (its `blob` set to its capture's index when `media` is given)."""
        self.seq_n += 1
        row = [self.seq_n, ev, media, bool(hist), self.marker() if self.marker else None]
        with open(self.path, "a") as f:
            f.write(json.dumps(row))
            f.write("\n")
        self._put(row, close)
        self._ev.set()

    def _put(self, row, close):
        cur = self.cur
        if cur and (row[3] != cur[0][3] or (row[2] and _blobs(cur) >= MAX_BLOBS)):
            self.close()
            cur = self.cur
        if not cur:
            self.t0 = time.ticks_ms()
        if row[2]:
            row[1]["blob"] = _blobs(cur)
        cur.append(row)
        if close or len(cur) >= self.n:
            self.close()

    def close(self):
        """Close the open batch (it is signed next)."""
        if self.cur:
            self.ready.append(self.cur)
            self.cur = []
            self._ev.set()

    def set_hist(self, hist):
        """The device went live / historical: an open batch of the other kind closes."""
        if self.cur and self.cur[0][3] != bool(hist):
            self.close()

    def due_ms(self):
        """Milliseconds until the open batch is due (None without one)."""
        if not self.cur:
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

    async def _emit(self, rows):
        self._busy = True
        try:
            events = [r[1] for r in rows]
            media = [r[2] for r in rows if r[2]]
            await self.emit(
                events, media, rows[0][3], {"batch_n": rows[-1][0], "batch_mark": rows[-1][4]}
            )
            self.done_n = rows[-1][0]
            self.emitted += 1
            self.ready.pop(0)
            self._rewrite()
        finally:
            self._busy = False

    def _rewrite(self):
        rows = [r for b in self.ready for r in b] + self.cur
        if not rows:
            remove(self.path)
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            for r in rows:
                f.write(json.dumps(r))
                f.write("\n")
        replace(tmp, self.path)


def _blobs(rows):
    k = 0
    for r in rows:
        if r[2]:
            k += 1
    return k
