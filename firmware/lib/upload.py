"""Uploader: drains the outbox over the link (records in order, media as chunk frames) and
acts on hub receipts and the retained hub state.

    up = Uploader(dev_id, outbox, state, progress, link, hub_pk=pk, trim_on="receipt")
    asyncio.create_task(up.run()); up.wake()   # after Outbox.put

The envelope goes first, then each blob's chunk frames, streamed: the 44-byte header, then the
chunk read from its file in 2 KiB slices through one preallocated buffer (BUF_BYTES), each
written to the socket before the next is read, so no chunk (16 KiB) is ever whole in RAM.
Progress is written to its own small record (see state.Progress) after every PUBACK, before
the next chunk goes out: a restarted device resumes at the next chunk, so only the chunk that
was in flight when the power went is sent twice. With trim_on "puback" a record is removed
once its envelope and every chunk got a PUBACK; with "receipt" only once a verified hub
receipt covers its seq, and after a reconnect, or a hub state of a hub session not seen
before, every record still held is sent again, in order (sent_rid, the newest record sent
since the last rewind, is kept in RAM).
"""

import asyncio
import binascii
import gc
import os

import log as log_mod
from compat import const, exists, remove
from outbox import rec_id, rec_media, rec_payload, rec_seq, rec_topic

from protocol import canonical, chunking, command, sealed, topics
from protocol.errors import ProtocolError
from protocol.limits import CHUNK_SIZE

_log = log_mod.getLogger("upload")
_RCPT_QUEUE = const(4)  # receipts held while one waits for heap (each a few hundred bytes)
_HUB_SESSIONS = const(4)  # hub sessions remembered (state "hub_ses"): each worker has its own
BUF_BYTES = const(2048)  # the upload buffer: a chunk goes out in reads of this size


class Uploader:
    def __init__(self, dev, outbox, state, progress, link, hub_pk=None, chunk_size=CHUNK_SIZE,
                 keep_media=False, trim_on="puback", require_hub=False, buf=None):
        self.dev = dev
        self.outbox = outbox
        self.state = state
        self.progress = progress
        self.link = link
        self.hub_pk = hub_pk
        self.chunk_size = chunk_size
        self.keep_media = keep_media
        self.by_receipt = trim_on == "receipt"
        if self.by_receipt and hub_pk is None:
            raise ValueError("trim_on receipt needs hub_key")
        self.require_hub = require_hub
        # the one upload buffer (BUF_BYTES or more), allocated once or handed in (launch.py
        # takes it first, while the heap is one free run): chunks stream through it (_Frame)
        if buf is None:
            buf = bytearray(BUF_BYTES)
        elif len(buf) < 512:
            raise ValueError("upload buffer: want at least 512 bytes")
        self.frame = _Frame(buf)
        self.resend = {}  # sha_hex -> [[missing indices], media path] from hub receipts
        self.chunks_sent = 0
        self.uploading = False
        self.hub_online = not require_hub
        self.hub_up = None  # the last hub state seen (None: none yet)
        self.hub_seq = state.get("hub_seq", 0)
        self.sent_rid = 0
        self.receipts_verified = 0
        self.receipts_skipped = 0  # no news (see _no_news): not verified
        self.receipts_deferred = 0  # checks put off for want of heap (then retried)
        self.receipts_dropped = 0  # receipts listing blobs the full queue let go
        self.trims_deferred = 0  # trims that found no heap (done again after a collection)
        self._rcpts = []  # raw receipts waiting for heap to be checked, oldest first
        self._rewind = False
        self._aside = False  # send_record() is sending an older record during a rewind
        self._aside_prog = None  # that older record's progress (RAM only)
        self._state_on_link = False  # a hub state seen since the link came up
        self._trim_seq = 0
        self._wake = asyncio.Event()
        self._stop = False
        self._prog = progress.load()  # [rid, env, blob, chunk] of the upload under way

    def wake(self):
        self._wake.set()

    def stop(self):
        self._stop = True
        self._wake.set()

    def on_link_up(self):
        """After the birth message on a new connection: with trim_on "receipt" send again
        everything held."""
        self._rewind = self.by_receipt
        self._state_on_link = False
        self._wake.set()

    def live(self):
        """The link is up and (with require_hub) the retained hub state last said online:
        what the device sends now reaches the hub now."""
        return self.hub_online and self.link.is_up()

    def idle(self):
        """Nothing left to send (outbox empty, no upload, no chunk to re-send, no receipt
        waiting to be checked)."""
        return (len(self.outbox) == 0 and not self.uploading and not self._rcpts
                and self._resend_ready() is None)

    # --- hub messages (called on the MQTT reader task: never block) ----------------------------

    def on_hub_state(self, payload):
        try:
            msg = command.open_state(payload, self.hub_pk)
        except ProtocolError as e:
            _log.warning("hub state refused: %s", e)
            return
        online = bool(msg["online"]) and msg.get("dev") is None
        ses = msg.get("session")
        first = not self._state_on_link  # the retained state, right after the link-up rewind
        self._state_on_link = True
        seen = self.state.get("hub_ses", None)
        if type(seen) is not list:
            seen = []
        if online and ses not in seen:
            # a hub connection not seen before (a restarted hub): send what it lacks again.
            # The sessions seen last (several workers take turns in the retained state) are
            # kept, so the retained state seen on every reconnect and after a reboot is not
            # one: the link-up rewind covers that, and a second would send a record already
            # under way again whole (a 1 MB photo twice)
            self._rewind = self.by_receipt
            seen = ([ses] + seen)[:_HUB_SESSIONS]
            self.state.set("hub_ses", seen)
            self.state.save()
        elif online and self.hub_up is False and not first:
            self._rewind = self.by_receipt  # the hub went away and came back while linked
        self.hub_up = online
        if self.require_hub:
            self.hub_online = online
        self._wake.set()

    def on_receipt(self, payload):
        """A gl/v1/{dev}/rcpt message (on the MQTT reader task). Checked at once, unless an
        earlier one waits for heap: then queued behind it (receipts apply in order)."""
        if self.hub_pk is None:
            return
        q = self._rcpts
        if q or not self._check_receipt(payload):
            q.append(payload)
            if len(q) > _RCPT_QUEUE:
                # bounded: the oldest behind the first goes; receipts are cumulative in seq,
                # so a newer one trims and confirms as much (one naming blobs is counted)
                if b'"blobs":{}' not in q.pop(1):
                    self.receipts_dropped += 1
            self._wake.set()

    def _check_receipt(self, payload):
        """Verify and apply one receipt; False when its check found no heap (the pure-Python
        Ed25519 needs ~10 KB of transient heap, which a 192K handheld has only between
        bursts): the caller keeps it for the drain task, which tries again. A lost receipt
        would leave records untrimmed and a trial boot unconfirmed."""
        try:
            if self._no_news(payload):
                self.receipts_skipped += 1
                return True
            rcpt = command.open_receipt(payload, self.hub_pk)
        except ProtocolError as e:
            _log.warning("receipt refused: %s", e)
            return True
        except MemoryError:
            self.receipts_deferred += 1
            _log.info("receipt check deferred: no heap (%d)", self.receipts_deferred)
            return False
        self.receipts_verified += 1
        if rcpt["dev"] != self.dev:
            return True
        held = self.state.get("held", None) or {}
        changed = False
        # receipts are cumulative: the newest list of a blob replaces any queued one
        for sha, missing in rcpt["blobs"].items():
            if missing:
                if sha in held:
                    self.resend[sha] = [list(missing), held[sha]]
                elif self.by_receipt:
                    # the file is the outbox record's media: _trim finds it (and keeps the
                    # record) once the record is covered; until then nothing is re-sent
                    ent = self.resend.get(sha)
                    self.resend[sha] = [list(missing), ent[1] if ent else None]
            else:
                self.resend.pop(sha, None)
                if sha in held:
                    remove(held.pop(sha))
                    changed = True
        while len(self.resend) > 32:  # bounded: forget a blob the hub will list again
            self.resend.pop(next(iter(self.resend)))
        self.state.set("hub_seq", rcpt["seq"])
        self.hub_seq = rcpt["seq"]  # trimming (trim_on "receipt") happens on the drain task
        if changed:
            self.state.set("held", held)
            self.state.save()
        self._wake.set()
        return True

    def _no_news(self, payload):
        """True for a receipt that, verified, would change nothing: its seq does not advance
        past the newest verified one and it lists no blob (it may trim nothing, re-send
        nothing, release no media). Such a receipt is dropped unverified (Ed25519 in pure
        Python is ~40 ms a receipt); anything else is verified before it is used."""
        rcpt = sealed.parse(payload)  # size, canonical form, sig well-formed; not the signature
        seq = rcpt.get("seq")
        return (type(seq) is int and seq <= self.hub_seq and rcpt.get("blobs") == {}
                and rcpt.get("dev") == self.dev)

    # --- the drain task -----------------------------------------------------------------------

    async def run(self):
        while not self._stop:
            q = self._rcpts
            if q:  # receipts whose check found no heap: oldest first, after a collection
                gc.collect()
                if self._check_receipt(q[0]):
                    q.pop(0)
                else:
                    await asyncio.sleep_ms(200)
                continue
            if not self.link.is_up():
                # on_up runs before link.up is set, so wait for the link itself, not _wake
                await self.link.wait_up()
                continue
            if self.by_receipt:
                if self._rewind:
                    self._rewind = False
                    self.sent_rid = 0
                try:
                    self._trim()
                    rec = self.outbox.next_after(self.sent_rid)
                except MemoryError:
                    # reading the outbox found no heap (a 192K handheld under load): a trim
                    # only removes what a verified receipt covers, so doing it again after a
                    # collection redoes nothing twice
                    self.trims_deferred += 1
                    _log.warning("trim deferred: no heap (%d)", self.trims_deferred)
                    gc.collect()
                    await asyncio.sleep_ms(200)
                    continue
            else:
                rec = self.outbox.peek()
            again = self._resend_ready()
            busy = rec is not None or again is not None
            if not busy or not self.hub_online:
                self._wake.clear()  # set by wake() (emit), receipts, hub state
                await self._wake.wait()
                continue
            try:
                if again is not None:
                    await self._resend_missing(again)
                else:
                    self.uploading = True
                    await self.send_record(rec)
                    self.uploading = False
            except OSError as e:
                _log.warning("link down while sending: %r", e)
                await asyncio.sleep_ms(100)
            except MemoryError:
                # no heap for this record now: its progress is saved after every PUBACK, so
                # after a collection it goes on from there; the uploader never ends on it
                self.uploading = False
                _log.warning("send deferred: no heap")
                gc.collect()
                await asyncio.sleep_ms(200)

    async def send_record(self, rec):
        rid = rec_id(rec)
        payload = rec_payload(rec)
        media = rec_media(rec) or []
        prog = self._prog
        # a rewind sends an older record again while a newer one's upload is under way (a
        # reboot mid-photo): that upload's progress stays, on flash too, and goes on from its
        # chunk after; the older record's own progress is kept in RAM only (after a power cut
        # the link-up rewind sends it again anyway)
        self._aside = self.by_receipt and prog is not None and prog[0] > rid
        if self._aside:
            prog = self._aside_prog
            if prog is None or prog[0] != rid:  # kept across a retry (MemoryError, link down)
                prog = self._aside_prog = [rid, False, 0, 0]
        elif not prog or prog[0] != rid:
            prog = self._prog = [rid, False, 0, 0]
        if not prog[1]:
            await self.link.publish(rec_topic(rec), payload, 1)
            prog[1] = True
            self._save_prog(prog, 0, 0)
        if media:
            # our own sealed bytes: a plain parse, not the canonical check (which encodes the
            # record again, a second copy a fragmented 192K heap may not have room for)
            blobs = canonical.loads(payload)["blobs"]
            payload = None
            while prog[2] < len(media):
                await self._send_blob(media[prog[2]], blobs[prog[2]], prog)
                prog[2] += 1
                prog[3] = 0
        if media and self.keep_media:
            held = self.state.get("held", None) or {}
            for i in range(len(media)):
                held[blobs[i]["sha256"]] = media[i]
            while len(held) > 32:
                remove(held.pop(sorted(held)[0]))
            self.state.set("held", held)
            self.state.save()
        if self._aside:
            self._aside_prog = None
            self.sent_rid = rid
            return
        self._prog = None
        if self.by_receipt:
            self.sent_rid = rid  # kept until a hub receipt covers its seq (see _trim)
            # a rewind after a reboot sends this record again whole, not from its last chunk
            self.progress.save(0, False, 0, 0)
        else:
            # rids never repeat: the progress left behind never matches another record
            self.outbox.ack(rid, remove_media=not self.keep_media)

    def _save_prog(self, prog, blob, chunk):
        if not self._aside:
            self.progress.save(prog[0], True, blob, chunk)

    async def _send_blob(self, path, blob, prog):
        # prog = [rid, env, blob, chunk]; written after each PUBACK, before the next chunk (the
        # last chunk of a blob writes where the next blob starts)
        try:
            f = open(path, "rb")
        except OSError:
            _log.warning("media gone (evicted): %s", path)
            self.state.set("media_lost", self.state.get("media_lost", 0) + 1)
            self.state.save()
            self._save_prog(prog, prog[2] + 1, 0)
            return
        try:
            size = blob["size"]
            if os.stat(path)[6] != size:  # cut short or grown: its chunks would not add up
                _log.warning("media changed on flash: %s", path)
                self.state.set("media_lost", self.state.get("media_lost", 0) + 1)
                self.state.save()
                self._save_prog(prog, prog[2] + 1, 0)
                return
            sha_raw = binascii.unhexlify(blob["sha256"])
            total = chunking.chunk_count(size, self.chunk_size)
            topic = topics.blob(self.dev)
            while prog[3] < total:
                i = prog[3]
                await self._send_chunk(f, topic, sha_raw, i, total, size)
                prog[3] = i + 1
                if i + 1 < total:
                    self._save_prog(prog, prog[2], i + 1)
                else:
                    self._save_prog(prog, prog[2] + 1, 0)
        finally:
            f.close()

    async def _send_chunk(self, f, topic, sha_raw, index, total, size):
        off = index * self.chunk_size
        fr = self.frame
        fr.set(chunking.pack_header(sha_raw, index, total), f, off,
               min(self.chunk_size, size - off))  # fmt: skip
        try:
            # keep=False: never kept for resend_inflight(); the file is the store to re-send from
            await self.link.publish(topic, fr, 1, keep=False)
        finally:
            fr.f = None
        self.chunks_sent += 1

    # --- trim_on "receipt" and re-sends --------------------------------------------------------

    def _trim(self):
        """trim_on "receipt": remove the records the newest verified receipt covers (seq <=
        its "stored through"), oldest first, reading only each record's last bytes. A record
        whose media upload is unfinished stays until its chunks are sent; one whose blobs the
        latest receipt lists with missing chunks stays (its media queued for the re-send)
        until a receipt says they are complete."""
        n = self.hub_seq
        if n <= self._trim_seq:
            return
        blocked = False
        cur = self._prog[0] if self._prog else None
        for rid in self.outbox.rids():
            s = rec_seq(self.outbox.tail(rid, 256))
            if s is None:
                continue
            if s > n:
                break
            if rid == cur:
                return  # again after the upload, at the next drain step
            if self.resend and self._awaits_chunks(rid):
                blocked = True  # looked at again at every drain step until complete
                continue
            self.outbox.ack(rid, remove_media=not self.keep_media)
        if not blocked:
            self._trim_seq = n

    def _awaits_chunks(self, rid):
        """True when the hub lists missing chunks of a blob of record rid; points those
        re-send entries at the record's media files."""
        media = self.outbox.media(rid)
        if not media:
            return False
        rec = self.outbox.next_after(rid - 1)
        if rec is None or rec_id(rec) != rid:
            return False
        blobs = canonical.loads(rec_payload(rec))["blobs"]
        rec = None
        found = False
        for i in range(min(len(blobs), len(media))):
            ent = self.resend.get(blobs[i]["sha256"])
            if ent is not None:
                ent[1] = media[i]
                found = True
        return found

    def _resend_ready(self):
        """The sha of a blob with chunks to re-send from a known file, or None."""
        for sha in self.resend:
            ent = self.resend[sha]
            if ent[0] and ent[1] is not None:
                return sha
        return None

    async def _resend_missing(self, sha):
        ent = self.resend[sha]
        missing, path = ent
        if path is not None and exists(path):
            size = os.stat(path)[6]
            total = chunking.chunk_count(size, self.chunk_size)
            sha_raw = binascii.unhexlify(sha)
            with open(path, "rb") as f:
                while missing:
                    i = missing[0]
                    if 0 <= i < total:
                        await self._send_chunk(f, topics.blob(self.dev), sha_raw, i, total, size)
                    missing.pop(0)
        if self.resend.get(sha) is ent:  # not replaced by a newer receipt meanwhile
            if self.by_receipt and path is not None and exists(path):
                return  # kept ([] left): the record stays until a receipt says complete
            del self.resend[sha]


class _Frame:
    # One chunk frame as a streamed MQTT payload: len() is the frame's size, parts() yields the
    # 44-byte header, then the chunk's bytes read from its file through the upload buffer.
    # mqtt.py writes each part (the socket or the stream's own queue takes the bytes) before
    # it asks for the next, so the one buffer is reused; parts() seeks first, so a frame is
    # sent whole each time it is asked for.
    def __init__(self, buf):
        self.mv = memoryview(buf)
        self.head = b""
        self.f = None
        self.off = 0
        self.n = 0

    def set(self, head, f, off, n):
        self.head = head
        self.f = f
        self.off = off
        self.n = n

    def __len__(self):
        return len(self.head) + self.n

    def parts(self):
        f = self.f
        if f is None:
            raise OSError(9)  # EBADF: its file is closed (the publisher is done with it)
        f.seek(self.off)
        yield self.head
        mv = self.mv
        left = self.n
        while left:
            k = f.readinto(mv[: left if left < len(mv) else len(mv)])
            if not k:
                raise OSError(5)  # EIO: the file is shorter than its size said
            left -= k
            yield mv[:k]
