"""Streamed cutter of a real WebM clip: a clip of `seconds` made from a source clip's clusters,
copied through one caller's buffer (never the whole file in RAM), looped from the first
cluster when the source is shorter than asked.

    size = webm.cut(src, out, seconds, buf)     # src, out: open binary files

A source must start every cluster with a keyframe and its timestamp (what ffmpeg's WebM muxer
writes when the keyframe interval is the cluster length; simulator/clips/make.py). The output
is a WebM Chromium and ffmpeg play and seek: the source's EBML header and Tracks, a SeekHead,
Info with the clip's duration, the clusters (timestamps rewritten, blocks copied as they are),
then Cues, one per cluster. SeekHead, Cues, Tags and Void of the source are left out (their
offsets and durations are the source's). The clip ends at the first cluster boundary at or
after `seconds`.
"""

import struct

_EBML = 0x1A45DFA3
_SEGMENT = 0x18538067
_SEEKHEAD = 0x114D9B74
_INFO = 0x1549A966
_TRACKS = 0x1654AE6B
_CLUSTER = 0x1F43B675
_CUES = 0x1C53BB6B
_TIMESCALE = 0x2AD7B1
_DURATION = 0x4489
_TIMESTAMP = 0xE7
_TRACKENTRY = 0xAE
_TRACKNUMBER = 0xD7
_MAX_HEAD = 4096  # EBML header, Info, Tracks are read whole: a few hundred bytes in practice


def _vint(f, keep):
    """(value, length) of the EBML variable-size integer at f; keep: keep the length marker
    (element ids). (None, 0) at the end of the file."""
    b = f.read(1)
    if not b:
        return None, 0
    first = b[0]
    n = 1
    mask = 0x80
    while n <= 8 and not first & mask:
        mask >>= 1
        n += 1
    if n > 8:
        raise ValueError("webm: bad variable-size integer")
    v = first if keep else first & (mask - 1)
    if n > 1:
        for c in f.read(n - 1):
            v = (v << 8) | c
    if not keep and v == (1 << (7 * n)) - 1:
        raise ValueError("webm: element of unknown size (a live stream is no source)")
    return v, n


def _id_bytes(eid):
    n = 4 if eid > 0xFFFFFF else 3 if eid > 0xFFFF else 2 if eid > 0xFF else 1
    return eid.to_bytes(n, "big")


def _size8(n):  # an element size as an 8-byte vint: known before its body is, patched later
    return (n | (1 << 56)).to_bytes(8, "big")


def _uint_el(eid, v):  # an unsigned element with an 8-byte value: its length never changes
    return _id_bytes(eid) + b"\x88" + v.to_bytes(8, "big")


def _children(body):
    """(id, value bytes) of each child element of an element's body held in RAM."""
    i = 0
    out = []
    while i < len(body):
        first = body[i]
        n = 1
        while not first & (0x80 >> (n - 1)):
            n += 1
        eid = int.from_bytes(body[i : i + n], "big")
        i += n
        first = body[i]
        m = 1
        while not first & (0x80 >> (m - 1)):
            m += 1
        size = first & ((0x80 >> (m - 1)) - 1)
        for c in body[i + 1 : i + m]:
            size = (size << 8) | c
        i += m
        out.append((eid, body[i : i + size]))
        i += size
    return out


def _copy(src, out, n, buf):
    mv = memoryview(buf)
    while n:
        k = src.readinto(mv[: n if n < len(mv) else len(mv)])
        if not k:
            raise ValueError("webm: source ends inside an element")
        out.write(mv[:k])
        n -= k


def _track(tracks):
    for eid, entry in _children(tracks):
        if eid == _TRACKENTRY:
            for cid, v in _children(entry):
                if cid == _TRACKNUMBER:
                    return int.from_bytes(v, "big")
    raise ValueError("webm: source has no track")


def cut(src, out, seconds, buf, max_cues=300):
    """Write a WebM of `seconds` (>= 1) cut from the clip open in `src` to `out`; returns the
    bytes written. ValueError for a source that is no WebM of the kind above. The clip's
    clusters are listed in RAM for its Cues (at most `max_cues`: 5 minutes of 1 s clusters)."""
    if seconds < 1:
        raise ValueError("webm: a clip of at least 1 s")
    eid, _ = _vint(src, True)
    if eid != _EBML:
        raise ValueError("webm: source is not an EBML file")
    size, _ = _vint(src, False)
    out.write(_id_bytes(_EBML) + _size8(size))
    _copy(src, out, size, buf)
    eid, _ = _vint(src, True)
    if eid != _SEGMENT:
        raise ValueError("webm: no segment after the EBML header")
    seg_size, _ = _vint(src, False)
    seg_end = src.tell() + seg_size
    out.write(_id_bytes(_SEGMENT))
    seg_size_at = out.tell()
    out.write(_size8(0))
    seg0 = out.tell()  # SeekPosition and CueClusterPosition count from here
    # SeekHead: Info, Tracks, Cues; every position 8 bytes, patched once known
    seeks = (_INFO, _TRACKS, _CUES)
    seek = b""
    for s in seeks:
        e = _id_bytes(0x53AB) + bytes((0x80 | len(_id_bytes(s)),)) + _id_bytes(s)
        e += _uint_el(0x53AC, 0)
        seek += _id_bytes(0x4DBB) + _size8(len(e)) + e
    out.write(_id_bytes(_SEEKHEAD) + _size8(len(seek)) + seek)
    stride = len(seek) // 3  # the three Seek entries are alike in length (4-byte ids)
    seek_at = seg0 + 12 + stride - 8  # the value of the first SeekPosition
    scale = 1000000
    track = None
    dur_at = None
    want = 0
    first = None  # the source's first cluster: where a loop starts again
    src_ms = None  # the source's duration, in timestamp units
    base = 0  # what is added to the source's timestamps (the loops done so far)
    at = 0
    cues = []
    while True:
        pos = src.tell()
        eid, _ = _vint(src, True) if pos < seg_end else (None, 0)
        if eid is None:  # the end of the source: loop from its first cluster
            if first is None or src_ms is None:
                raise ValueError("webm: source has no clusters or no duration")
            base += src_ms
            src.seek(first)
            continue
        size, _ = _vint(src, False)
        if eid in (_INFO, _TRACKS):
            if size > _MAX_HEAD:
                raise ValueError("webm: %x element of %d bytes" % (eid, size))
            body = src.read(size)
            out_pos = out.tell() - seg0
            out.seek(seek_at + (0 if eid == _INFO else stride))
            out.write(out_pos.to_bytes(8, "big"))
            out.seek(0, 2)
            if eid == _TRACKS:
                track = _track(body)
                out.write(_id_bytes(eid) + _size8(size) + body)
                continue
            info = b""
            for cid, v in _children(body):
                if cid == _TIMESCALE:
                    scale = int.from_bytes(v, "big")
                if cid == _DURATION:
                    src_ms = int(struct.unpack(">f" if len(v) == 4 else ">d", v)[0])
                else:
                    info += _id_bytes(cid) + _size8(len(v)) + v
            want = int(seconds) * 1000000000 // scale
            out.write(_id_bytes(eid) + _size8(len(info) + 11) + info + _id_bytes(_DURATION))
            dur_at = out.tell() + 1
            out.write(b"\x88" + struct.pack(">d", 0.0))
        elif eid == _CLUSTER:
            if first is None:
                first = pos
            if track is None or dur_at is None:
                raise ValueError("webm: a cluster before Info and Tracks")
            cid, n = _vint(src, True)
            ts_size, m = _vint(src, False)
            if cid != _TIMESTAMP or ts_size > 8:
                raise ValueError("webm: a cluster that does not start with its timestamp")
            at = base + int.from_bytes(src.read(ts_size), "big")
            if at >= want:
                break
            if len(cues) >= max_cues:
                raise ValueError("webm: more than %d clusters" % max_cues)
            cues.append((at, out.tell() - seg0))
            rest = size - n - m - ts_size
            ts = _uint_el(_TIMESTAMP, at)
            out.write(_id_bytes(_CLUSTER) + _size8(rest + len(ts)) + ts)
            _copy(src, out, rest, buf)
        else:  # SeekHead, Void, Tags, Cues of the source: theirs, not the clip's
            src.seek(size, 1)
    cues_pos = out.tell() - seg0
    # every CuePoint is the same 48 bytes (8-byte sizes and values): written one by one
    out.write(_id_bytes(_CUES) + _size8(48 * len(cues)))
    for t, p in cues:
        tp = _uint_el(0xF7, track) + _uint_el(0xF1, p)
        e = _uint_el(0xB3, t) + _id_bytes(0xB7) + _size8(len(tp)) + tp
        out.write(_id_bytes(0xBB) + _size8(len(e)) + e)
    end = out.tell()
    out.seek(seek_at + 2 * stride)
    out.write(cues_pos.to_bytes(8, "big"))
    out.seek(dur_at)
    out.write(struct.pack(">d", float(at)))
    out.seek(seg_size_at)
    out.write(_size8(end - seg0))
    out.seek(end)
    return end
