"""Signature checks with the device's keys, the ``key`` event's body, and the revocation rule.

A device may hold two keys for a while: after a rotation the previous key verifies until
``previous_key_until`` (``hub.devices.service.verifying_keys``). A revoked device's envelopes
are judged against its watermark (docs/protocol.md, "Revocation"): above ``revoked_seq`` they
are rejected in ``events``; at or below it ``drop_unlinked`` keeps only those that link into
the known chain: the ``prev`` of the envelope is the digest of the stored (or already admitted)
previous seq, or the envelope's digest is the ``prev`` of the stored (or admitted) next seq.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.events.models import Event
from protocol import command, envelope, sealed
from protocol.errors import MalformedError, SignatureError
from protocol.limits import GENESIS

if TYPE_CHECKING:
    from protocol.command import State

Link = tuple[str, str]  # an envelope's (prev, digest)


def signer(env: Mapping[str, object], keys: Sequence[bytes]) -> bytes:
    """The first of ``keys`` whose signature ``env`` carries; SignatureError if none."""
    for key in keys:
        try:
            envelope.verify(env, key)
        except SignatureError:
            continue
        return key
    raise SignatureError("signature does not verify")


def open_state(data: bytes, keys: Sequence[bytes]) -> State:
    """A birth / will verified by one of ``keys`` (ProtocolError otherwise)."""
    msg = command.open_state(data)
    for key in keys:
        try:
            sealed.check(msg, key, command.STATE_DOMAIN)
        except SignatureError:
            continue
        return msg
    raise SignatureError("signature does not verify")


def announced_seq(state: Mapping[str, object]) -> int | None:
    """The ``seq`` a birth announces (the highest the device has assigned), if it has one."""
    seq = state.get("seq")
    if type(seq) is not int or seq < 0:
        return None
    return seq


def key_event_pub(env: Mapping[str, Any]) -> str:
    """The new public key a ``key`` event announces; MalformedError unless the body is exactly
    ``{"pub": "<64 lower-case hex>"}``."""
    body = env["body"]
    if sorted(body) != ["pub"] or not sealed.is_hex(body["pub"], 64):
        raise MalformedError('a key event\'s body must be {"pub": "<64 lower-case hex>"}')
    pub: str = body["pub"]
    return pub


def unlinked(
    db_session: Session,
    links: Mapping[tuple[str, int], Link],
    devices: Sequence[str],
) -> list[tuple[str, int]]:
    """Which of ``links`` ((device, seq) -> (prev, digest) of new envelopes of the revoked
    ``devices``) do not link into the known chain; neighbours in ``links`` count once
    admitted."""
    out: list[tuple[str, int]] = []
    for dev in sorted(devices):
        seqs = sorted(seq for d, seq in links if d == dev)
        if not seqs:
            continue
        near = sorted({s - 1 for s in seqs} | {s + 1 for s in seqs})
        digest_of: dict[int, str] = {0: GENESIS}
        prev_of: dict[int, str] = {}
        for i in range(0, len(near), 500):
            rows = db_session.execute(
                select(Event.seq, Event.digest, Event.prev).where(
                    Event.device_id == dev, Event.seq.in_(near[i : i + 500])
                )
            )
            for seq, digest, prev in rows:
                digest_of[seq], prev_of[seq] = digest, prev
        # Above everything stored the chain may grow from its head (left link). Inside a gap
        # the chain after it is fixed: only an envelope whose digest is its successor's prev
        # fits (right link; a gap fills from its right end), and it may not contradict a
        # known predecessor either. Left-linking alone would let the key holder fill a gap
        # with a chain of its own.
        top = int(db_session.scalar(select(func.max(Event.seq)).where(Event.device_id == dev)) or 0)
        waiting = list(seqs)
        changed = True
        while waiting and changed:  # an admitted one lets its neighbours in the batch link
            changed = False
            for seq in list(waiting):
                prev, digest = links[(dev, seq)]
                left = digest_of.get(seq - 1)
                if seq > top:
                    ok = prev == left
                else:
                    ok = digest == prev_of.get(seq + 1) and left in (None, prev)
                if ok:
                    digest_of[seq], prev_of[seq] = digest, prev
                    top = max(top, seq)
                    waiting.remove(seq)
                    changed = True
        out.extend((dev, seq) for seq in waiting)
    return out
