"""Hub receipts: "stored through seq N" plus the missing chunks of the device's blobs.

A receipt must fit ``MAX_COMMAND_BYTES`` (the device refuses bigger ones), so the missing-chunk
lists are shortened until it does, then blobs are left out (complete ones first); the device
asks again after re-sending what it was told and later receipts mention the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from hub.devices.models import Device
from hub.media import service as media
from hub.mqtt_messages import Outbound
from protocol import command, topics
from protocol.limits import MAX_COMMAND_BYTES


def build_receipt(
    *, db_session: Session, device: Device, touched: Iterable[str], ts: int, hub_seed: bytes
) -> bytes:
    blobs = media.blobs_for_receipt(db_session=db_session, device_id=device.id, touched=touched)
    limit = media.MAX_MISSING_IN_RECEIPT
    while True:
        data: bytes = command.seal_receipt(device.id, device.last_seq, blobs, ts, hub_seed)
        if len(data) <= MAX_COMMAND_BYTES:
            return data
        if limit > 1:
            limit //= 2
            blobs = {sha: missing[:limit] for sha, missing in blobs.items()}
            continue
        # Still too big: keep the blobs with missing chunks (the device must re-send those)
        # ahead of the complete ones, and halve how many are mentioned.
        order = sorted(blobs, key=lambda sha: (not blobs[sha], sha))
        blobs = {sha: blobs[sha] for sha in order[: len(order) // 2]}


def receipts_for(
    *, db_session: Session, touched: dict[str, set[str]], ts: int, hub_seed: bytes
) -> list[Outbound]:
    """One receipt per touched device (its blobs ``touched[dev]`` mentioned first)."""
    out: list[Outbound] = []
    for dev, shas in sorted(touched.items()):
        device = db_session.get(Device, dev)
        if device is None:
            continue
        data = build_receipt(
            db_session=db_session, device=device, touched=shas, ts=ts, hub_seed=hub_seed
        )
        out.append(Outbound(topics.rcpt(dev), data))
    return out
