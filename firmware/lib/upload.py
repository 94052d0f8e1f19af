"""Media upload and hub receipts for Device (a mixin; see device.py).

The envelope goes first, then each blob's chunk frames, built in the device's one buffer
(44-byte header + chunk read with readinto). Progress {"rid", "env", "b", "c"} is saved in the
state after every PUBACK: a restarted device resumes at chunk "c" of blob "b", so only the chunk
that was in flight when the power went can be sent twice.
"""

import binascii
import gc
import os

import log as log_mod

from protocol import chunking, command, envelope, topics
from protocol.errors import ProtocolError

_log = log_mod.getLogger("upload")


class Uploader:
    def _on_receipt(self, payload):
        if self.hub_pk is None:
            return
        try:
            rcpt = command.open_receipt(payload, self.hub_pk)
        except ProtocolError as e:
            _log.warning("receipt refused: %s", e)
            return
        if rcpt["dev"] != self.dev:
            return
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
                    _remove(held.pop(sha))
                    changed = True
        while len(self.resend) > 32:  # bounded: forget a blob the hub will list again
            self.resend.pop(next(iter(self.resend)))
        self.state.set("hub_seq", rcpt["seq"])
        self.hub_seq = rcpt["seq"]  # trimming (trim_on "receipt") happens on the drain task
        if changed:
            self.state.set("held", held)
            self.state.save()

    async def _send_record(self, rec):
        rid = rec_id(rec)
        topic = rec_topic(rec)
        payload = rec_payload(rec)
        media = rec_media(rec) or []
        prog = self.state.get("up", None)
        if not prog or prog.get("rid") != rid:
            prog = {"rid": rid, "env": False, "b": 0, "c": 0}
        if not prog["env"]:
            await self.publish(topic, payload, 1)
            prog["env"] = True
            self.state.set("up", prog)
            self.state.save()
        if media:
            blobs = envelope.parse(payload)["blobs"]
            payload = None
            while prog["b"] < len(media):
                i = prog["b"]
                await self._send_blob(media[i], blobs[i], prog)
                prog["b"] = i + 1
                prog["c"] = 0
                self.state.set("up", prog)
                self.state.save()
        held = None
        if media and self.opt("keep_media"):
            held = self.state.get("held", None) or {}
            for i in range(len(media)):
                held[blobs[i]["sha256"]] = media[i]
            while len(held) > 32:
                _remove(held.pop(sorted(held)[0]))
            self.state.set("held", held)
        if self.by_receipt:
            self.sent_rid = rid  # kept until a hub receipt covers its seq (see _trim)
        else:
            self.outbox.ack(rid, remove_media=not self.opt("keep_media"))
        self.state.set("up", None)
        self.state.save()
        gc.collect()
        self.sample_heap()

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
        up = self.state.get("up", None)
        cur = up["rid"] if up else None
        keep = self.opt("keep_media")
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
            self.outbox.ack(rid, remove_media=not keep)
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
        blobs = envelope.parse(rec_payload(rec))["blobs"]
        rec = None
        found = False
        for i in range(min(len(blobs), len(media))):
            ent = self.resend.get(blobs[i]["sha256"])
            if ent is not None:
                ent[1] = media[i]
                found = True
        return found

    async def _send_blob(self, path, blob, prog):
        try:
            f = open(path, "rb")
        except OSError:
            _log.warning("media gone (evicted): %s", path)
            self.state.set("media_lost", self.state.get("media_lost", 0) + 1)
            return
        try:
            sha_raw = binascii.unhexlify(blob["sha256"])
            total = chunking.chunk_count(blob["size"], self.chunk_size)
            topic = topics.blob(self.dev)
            while prog["c"] < total:
                await self._send_chunk(f, topic, sha_raw, prog["c"], total)
                prog["c"] += 1
                self.state.set("up", prog)
                self.state.save()
        finally:
            f.close()

    async def _send_chunk(self, f, topic, sha_raw, index, total):
        h = chunking.HEADER_SIZE
        self.buf[:h] = chunking.pack_header(sha_raw, index, total)
        f.seek(index * self.chunk_size)
        n = _fill(f, self.mv[h: h + self.chunk_size])
        # keep=False: never copied for resend_inflight(); the file is the store to re-send from
        await self.publish(topic, self.mv[: h + n], 1, keep=False)
        self.chunks_sent += 1

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
        if path is not None and _exists(path):
            size = os.stat(path)[6]
            total = chunking.chunk_count(size, self.chunk_size)
            sha_raw = binascii.unhexlify(sha)
            with open(path, "rb") as f:
                while missing:
                    i = missing[0]
                    if 0 <= i < total:
                        await self._send_chunk(f, topics.blob(self.dev), sha_raw, i, total)
                    missing.pop(0)
        if self.resend.get(sha) is ent:  # not replaced by a newer receipt meanwhile
            if self.by_receipt and path is not None and _exists(path):
                return  # kept ([] left): the record stays until a receipt says complete
            del self.resend[sha]



def _fill(f, mv):
    n = 0
    while n < len(mv):
        got = f.readinto(mv[n:])
        if not got:
            break
        n += got
    return n


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


# --- outbox record accessors (one place that knows the record shape of outbox.py) ---------------

def rec_id(rec):
    return rec[0]


def rec_topic(rec):
    return rec[1]


def rec_payload(rec):
    return rec[2]


def rec_media(rec):
    return rec[3]


def rec_seq(tail):
    """The seq of a sealed envelope from its last bytes: canonical JSON sorts the keys, and the
    only ones after "seq" are "sig" (hex), "ts" and "v" (integers), so the last ',"seq":' is the
    envelope's own."""
    if not tail:
        return None
    i = tail.rfind(b',"seq":')
    if i < 0:
        return None
    i += 7
    j = i
    while j < len(tail) and 48 <= tail[j] <= 57:
        j += 1
    return int(tail[i:j]) if j > i else None
