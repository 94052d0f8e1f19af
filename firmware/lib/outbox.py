# Persistent outbox on the flash filesystem: an append-only segment log plus a committed cursor.
#
# Why a log and not a file per event (DESIGN.md section 4): appending to an open segment wears
# flash less than create/write/rename/delete per event. Measured here on littlefs (VfsLfs2 on a
# RAM block device, 400-byte events, each acknowledged): 3.1 block writes per event against 8.6
# for a file per event (tests/firmware/test_outbox_lfs.py). The guarantees still hold:
#   * atomic: a record is [u32 body length | u32 CRC-32 of body | body]; it exists only if its
#     length and CRC check out, so a write torn by power loss is ignored on reopen, and the log
#     is never rewritten in place (after a reopen, appends go to a new segment);
#   * durable before it is sent: put() flushes the record (every `sync_every` puts; default 1);
#   * removed only after acknowledgement: ack() appends a small ack record and flushes it, so an
#     ack that returned survives power loss; the read position ("cursor": segment and offset of
#     the oldest unacked record, acks not yet passed, media-drop marks, counters) is a small
#     JSON file committed by write-temp-then-rename before segments behind it are deleted.
# After a crash, nothing acked reappears; the unacked tail is delivered again (at least once).
#
# Full policy: bytes_used counts the unacked log and the media files the records reference.
# When a put would pass max_bytes, the media FILES of the oldest records that have media are
# deleted (the record stays, marked media_dropped, and .dropped counts it); records without media
# are never dropped; if it still does not fit, OutboxFullError.
#
# Body: u32 rid | u8 kind (0 event, 1 ack) | u16 topic length | u16 media length | topic | media
# | payload, media = "path\tsize" lines joined by "\n". An ack record carries only the rid.
import binascii
import json
import os
import struct

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_HDR = const(8)
_BHDR = const(9)
_SEG_BYTES = const(32768)
_BUF = const(512)
_EVENT = const(0)
_ACK = const(1)


class OutboxFullError(Exception):
    pass


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


def _replace(tmp, path):
    try:
        os.rename(tmp, path)
    except OSError:  # FAT cannot rename over an existing file
        _remove(path)
        os.rename(tmp, path)


class Outbox:
    def __init__(self, root, max_bytes=512 * 1024, sync_every=1, seg_bytes=_SEG_BYTES):
        if max_bytes <= 0 or sync_every < 1:
            raise ValueError("max_bytes/sync_every")
        self.root = root.rstrip("/")
        self.max_bytes = max_bytes
        self.sync_every = sync_every
        self.seg_bytes = seg_bytes
        self._buf = bytearray(_BUF)
        self._wf = None  # append handle of the write segment
        self._wseg = None
        self._unsynced = 0
        self._head = None  # cached peek() result
        self.recovered = False  # True when the cursor file was unreadable at open
        try:
            os.mkdir(self.root)
        except OSError:
            pass
        self._load()

    # --- open, cursor -------------------------------------------------------------------------

    def _seg_path(self, n):
        return "%s/seg%08d" % (self.root, n)

    def _load(self):
        cur = {}
        path = self.root + "/cursor"
        if not _exists(path) and _exists(path + ".tmp"):
            _replace(path + ".tmp", path)  # crashed between the two renames of a FAT commit
        try:
            with open(path) as f:
                cur = json.load(f)
        except OSError:
            pass
        except ValueError:  # cannot happen through rename; a flash fault must not stop the boot
            cur = None
        if not isinstance(cur, dict):
            cur = {}  # start from the oldest segment: acked records may come again (harmless)
            self.recovered = True
        self._seg = cur.get("seg", 0)
        self._off = cur.get("off", 0)
        acked = set(cur.get("acked", ()))
        self._mdrop = set(cur.get("mdrop", ()))
        self._dropped = cur.get("dropped", 0)
        self._next_rid = cur.get("rid", 1)
        nums = []
        for name in os.listdir(self.root):
            if name.startswith("seg") and len(name) == 11:
                n = int(name[3:])
                if n < self._seg:
                    _remove(self._seg_path(n))  # consumed; its delete was interrupted
                else:
                    nums.append(n)
        nums.sort()
        self._segs = []  # [[number, valid end], ...]; segs[0] is the cursor's segment
        self._media = []  # [[rid, [paths], size], ...] of unacked records with media, by rid
        self._media_bytes = 0
        head = None
        n_events = 0
        for n in nums:
            off = self._off if n == self._seg else 0
            while True:
                rec = self._read(n, off, False)
                if rec is None:
                    break  # end, or a torn record: the rest of this segment is ignored
                kind, rid, media, ln = rec[0], rec[1], rec[3], rec[5]
                off += ln
                if kind == _ACK:
                    acked.add(rid)
                    continue
                if head is None:
                    head = rid
                if rid >= self._next_rid:
                    self._next_rid = rid + 1
                n_events += 1
                if media and rid in self._mdrop:
                    for p, _ in media:  # finish a drop interrupted by power loss
                        _remove(p)
                elif media:
                    self._track_media(rid, media)
            self._segs.append([n, off])
        # acks of records behind the cursor are stale; the others are live
        self._acked = set(r for r in acked if head is not None and r >= head)
        self._count = n_events - len(self._acked)
        for rid in self._acked:
            self._untrack_media(rid)
        if not self._segs or self._segs[0][0] != self._seg:
            self._segs.insert(0, [self._seg, self._off])
        self._advance()

    def _track_media(self, rid, media):
        paths = []
        size = 0
        for p, s in media:
            paths.append(p)
            size += s
        self._media.append([rid, paths, size])
        self._media_bytes += size

    def _untrack_media(self, rid):
        for i in range(len(self._media)):
            if self._media[i][0] == rid:
                m = self._media.pop(i)
                self._media_bytes -= m[2]
                return m
        return None

    def _commit(self):
        cur = {
            "seg": self._seg,
            "off": self._off,
            "acked": sorted(self._acked),
            "mdrop": sorted(self._mdrop),
            "dropped": self._dropped,
            "rid": self._next_rid,
        }
        path = self.root + "/cursor"
        with open(path + ".tmp", "w") as f:
            json.dump(cur, f)
        _replace(path + ".tmp", path)

    # --- records ------------------------------------------------------------------------------

    def _read(self, seg, off, payload=True):
        # -> (kind, rid, topic, media [(path, size)], payload or None, total length) or None
        try:
            f = open(self._seg_path(seg), "rb")
        except OSError:
            return None
        try:
            f.seek(off)
            hdr = f.read(_HDR)
            if len(hdr) < _HDR:
                return None
            blen, crc = struct.unpack(">II", hdr)
            if blen < _BHDR or blen > 16 * 1024 * 1024:
                return None
            bh = f.read(_BHDR)
            if len(bh) < _BHDR:
                return None
            rid, kind, tlen, mlen = struct.unpack(">IBHH", bh)
            if _BHDR + tlen + mlen > blen:
                return None
            meta = f.read(tlen + mlen)
            if len(meta) < tlen + mlen:
                return None
            c = binascii.crc32(meta, binascii.crc32(bh))
            plen = blen - _BHDR - tlen - mlen
            if payload:
                data = f.read(plen)
                if len(data) < plen:
                    return None
                c = binascii.crc32(data, c)
            else:
                data = None
                mv = memoryview(self._buf)
                left = plen
                while left:
                    k = f.readinto(mv[: min(left, _BUF)])
                    if not k:
                        return None
                    c = binascii.crc32(mv[:k], c)
                    left -= k
            if c & 0xFFFFFFFF != crc:
                return None
        finally:
            f.close()
        topic = str(meta[:tlen], "utf-8")
        media = []
        if mlen:
            for line in str(meta[tlen:], "utf-8").split("\n"):
                p, s = line.rsplit("\t", 1)
                media.append((p, int(s)))
        return kind, rid, topic, media, data, _HDR + blen

    def _scan(self, payload=False, acks=False):
        # yield (kind, rid, topic, media, payload, seg, off, length) from the cursor on
        for n, end in list(self._segs):
            off = self._off if n == self._seg else 0
            while off < end:
                rec = self._read(n, off, payload)
                if rec is None:
                    break
                if acks or rec[0] == _EVENT:
                    yield rec[0], rec[1], rec[2], rec[3], rec[4], n, off, rec[5]
                off += rec[5]

    def _advance(self):
        # Move the cursor over acked records and ack records at its position.
        for rec in self._scan(acks=True):
            if rec[0] == _EVENT:
                if rec[1] not in self._acked:
                    break
                self._acked.discard(rec[1])
            self._seg, self._off = rec[5], rec[6] + rec[7]
        self._normalize()

    def _normalize(self):
        # Step off the end of finished segments, delete them (cursor committed first), recount.
        segs = self._segs
        gone = []
        while len(segs) > 1:
            if segs[0][0] < self._seg:  # the cursor moved into a later segment
                gone.append(segs.pop(0)[0])
            elif self._off >= segs[0][1] and segs[0][0] != self._wseg:
                gone.append(segs.pop(0)[0])
                self._seg = segs[0][0]
                self._off = 0
            else:
                break
        if gone:
            self._commit()
            for n in gone:
                _remove(self._seg_path(n))
        n = -self._off
        for _, end in segs:
            n += end
        self._log_bytes = n

    def _append(self, kind, rid, topic, mb, payload):
        blen = _BHDR + len(topic) + len(mb) + len(payload)
        bh = struct.pack(">IBHH", rid, kind, len(topic), len(mb))
        crc = binascii.crc32(bh)
        crc = binascii.crc32(payload, binascii.crc32(mb, binascii.crc32(topic, crc)))
        f = self._writer(_HDR + blen)
        try:
            f.write(struct.pack(">II", blen, crc & 0xFFFFFFFF))
            f.write(bh)
            if topic:
                f.write(topic)
            if mb:
                f.write(mb)
            if payload:
                f.write(payload)
            self._unsynced += 1
            if kind == _ACK or self._unsynced >= self.sync_every:
                f.flush()
                self._unsynced = 0
        except BaseException:
            self._close_writer()  # a partial record ends this segment; the next append starts anew
            raise
        self._segs[-1][1] += _HDR + blen
        self._log_bytes += _HDR + blen

    def _writer(self, size):
        end = self._segs[-1][1]
        if self._wf is not None and end and end + size > self.seg_bytes:
            self._close_writer()
        if self._wf is None:
            n = self._segs[-1][0] + 1
            self._wf = open(self._seg_path(n), "wb")
            self._wseg = n
            self._segs.append([n, 0])
        return self._wf

    def _close_writer(self):
        if self._wf is not None:
            try:
                self._wf.close()
            except OSError:
                pass
            self._wf = None
            self._wseg = None
            self._unsynced = 0
            self._normalize()

    # --- public -------------------------------------------------------------------------------

    def __len__(self):
        return self._count

    @property
    def bytes_used(self):
        return self._log_bytes + self._media_bytes

    @property
    def dropped(self):
        return self._dropped

    def put(self, topic, payload, media=None):
        """Append one record durably; return its rid. OutboxFullError when it cannot fit."""
        if isinstance(topic, str):
            topic = topic.encode()
        if isinstance(payload, str):
            payload = payload.encode()
        mlist = []
        msize = 0
        for p in media or ():
            if "\n" in p:
                raise ValueError("media path with a newline")
            try:
                s = os.stat(p)[6]
            except OSError:
                raise ValueError("media file missing: %s" % p)
            mlist.append((p, s))
            msize += s
        mb = "\n".join("%s\t%d" % m for m in mlist).encode()
        self._make_room(_HDR + _BHDR + len(topic) + len(mb) + len(payload) + msize)
        rid = self._next_rid
        self._append(_EVENT, rid, topic, mb, payload)
        self._next_rid = rid + 1
        self._count += 1
        if mlist:
            self._track_media(rid, mlist)
        return rid

    def flush(self):
        if self._wf is not None and self._unsynced:
            self._wf.flush()
            self._unsynced = 0

    def close(self):
        self._close_writer()

    def _make_room(self, need):
        if self.bytes_used + need <= self.max_bytes:
            return
        while self._media and self.bytes_used + need > self.max_bytes:
            rid, paths, size = self._media[0]
            self._mdrop.add(rid)
            self._dropped += 1
            self._commit()  # intent first: after a crash _load() finishes the deletes
            for p in paths:
                _remove(p)
            self._media.pop(0)
            self._media_bytes -= size
        if self.bytes_used + need > self.max_bytes:
            raise OutboxFullError(
                "outbox full: %d + %d > %d" % (self.bytes_used, need, self.max_bytes)
            )

    def peek(self):
        """(rid, topic, payload, media) of the oldest unacknowledged record, or None.

        media is the list of file paths given to put() ([] if none); after a media drop the
        paths are still listed but the files are gone (see media_dropped(rid)).
        """
        if self._head is None:
            self.flush()
            for rec in self._scan(True):
                if rec[1] not in self._acked:
                    self._head = (rec[1], rec[2], rec[4], [m[0] for m in rec[3]])
                    break
        return self._head

    def iter(self):
        """Yield (rid, topic, payload, media) of every unacknowledged record, oldest first."""
        self.flush()
        for rec in self._scan(True):
            if rec[1] not in self._acked:
                yield rec[1], rec[2], rec[4], [m[0] for m in rec[3]]

    def media(self, rid):
        """Paths of the media files unacknowledged record rid still holds ([] if none/dropped)."""
        for m in self._media:
            if m[0] == rid:
                return list(m[1])
        return []

    def media_dropped(self, rid):
        return rid in self._mdrop

    def ack(self, rid, remove_media=False):
        """Remove record rid (any order; unknown or repeated rids are ignored). Durable on return.

        Its media files go back to the caller (no longer counted in bytes_used) unless
        remove_media=True, which deletes them.
        """
        if rid in self._acked or rid >= self._next_rid:
            return
        head = self.peek()
        if head is None or rid < head[0]:
            return  # already acked
        if rid != head[0]:
            for rec in self._scan():
                if rec[1] >= rid:
                    break
            else:
                return
            if rec[1] != rid:
                return  # a gap left by a torn record
        self._append(_ACK, rid, b"", b"", b"")
        self._acked.add(rid)
        self._count -= 1
        m = self._untrack_media(rid)
        self._mdrop.discard(rid)
        if rid == head[0]:
            self._head = None
            self._advance()
        if m is not None and remove_media:
            for p in m[1]:
                _remove(p)
