"""Device births and last wills on ``gl/v1/{dev}/state`` with the session rule.

A birth (online, session n) marks the device online and remembers n; a will (offline) marks it
offline only when its session is not older than the newest birth, so a late will from an old
connection never takes a live device offline.

Each birth that is applied is also handed, as a ``Birth`` (device, session, firmware, access-list
version), to the optional ``on_birth`` hook, in the same transaction inside a savepoint: the
access domain compares ``birth.lists`` with the community's current list version there and
starts a list sync. A failing hook is logged and never undoes the birth.

A birth's ``seq`` (the highest seq the device has assigned) is remembered as announced: it
counts in the watermark should the device be revoked. After a key rotation the previous key
verifies states within the overlap. Births and wills of a revoked device are ignored and
counted ``revoked``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from hub.devices import service as devices
from hub.devices.models import Device, DeviceStatus
from hub.ingest import verify
from hub.mqtt_messages import Inbound
from protocol.errors import ProtocolError

logger = logging.getLogger(__name__)

Reject = Callable[[str, str | None, str], None]


@dataclass(frozen=True)
class Birth:
    """A verified, applied birth message."""

    device_id: str
    session: int
    at: datetime  # when the hub applied it
    firmware: str | None
    # the device's access-list version (0 = no list); None: not reported, or the retained
    # birth of a session already online delivered again (stale)
    lists: int | None


BirthHook = Callable[[Session, Birth], None]


def handle_states(
    *,
    db_session: Session,
    msgs: list[tuple[str, Inbound]],
    at: datetime,
    reject: Reject,
    on_birth: BirthHook | None = None,
) -> list[str]:
    """Apply state messages in arrival order; returns the devices that just came online.
    ``on_birth`` gets each applied birth (after the device row is updated and flushed)."""
    births: list[str] = []
    for dev, msg in msgs:
        if not msg.payload:  # a retained message being cleared
            continue
        device = db_session.get(Device, dev)
        if device is None:
            reject("unknown_device", dev, "state message")
            continue
        try:
            state = verify.open_state(bytes(msg.payload), devices.verifying_keys(device, at))
        except ProtocolError as exc:
            reject(exc.reason, dev, f"state: {exc.message}")
            continue
        except Exception as exc:  # noqa: BLE001 - one bad message must not fail its batch
            logger.exception("unexpected state parse failure from %s", dev)
            reject("malformed", dev, f"state: unparseable: {exc!r}"[:200])
            continue
        if state["dev"] != dev:
            reject("malformed", dev, "state message for another device")
            continue
        if device.status == DeviceStatus.revoked:
            reject("revoked", dev, "birth of a revoked device" if state["online"] else "will")
            devices.set_online(db_session=db_session, device=device, online=False, at=at)
            continue
        session = int(state["session"])
        if state["online"]:
            seq = verify.announced_seq(state)
            if seq is not None:
                devices.note_announced(device, seq)
            # the retained birth of the session the hub already holds online comes again
            # when the hub subscribes again: what it reported then is stale by now
            again = session == device.session and device.online
            if session < device.session:
                logger.info(
                    "%s: ignoring birth of old session %d < %d", dev, session, device.session
                )
                continue
            device.session = session
            device.last_seen = at
            devices.set_online(db_session=db_session, device=device, online=True, at=at)
            fw = state.get("fw")
            if isinstance(fw, str):
                device.firmware = fw[:64]
            hw = state.get("hw")
            if isinstance(hw, str):
                device.hardware = hw[:64]
            births.append(dev)
            lists = state.get("lists")  # open_state checked it: an int in 0..MAX_SEQ
            logger.info("%s online (session %d, lists %s)", dev, session, lists)
            if again:
                lists = None  # the gate's later acks and heartbeats said where it is now
            if on_birth is not None:
                birth = Birth(
                    device_id=dev,
                    session=session,
                    at=at,
                    firmware=fw[:64] if isinstance(fw, str) else None,
                    lists=lists,
                )
                _run_hook(db_session, on_birth, birth)
        elif session >= device.session:
            device.session = session
            devices.set_online(db_session=db_session, device=device, online=False, at=at)
            logger.info("%s offline (session %d)", dev, session)
        else:
            logger.info("%s: ignoring will of old session %d < %d", dev, session, device.session)
    return births


def _run_hook(db_session: Session, on_birth: BirthHook, birth: Birth) -> None:
    try:
        with db_session.begin_nested():
            on_birth(db_session, birth)
    except Exception:  # noqa: BLE001 - the birth stays applied
        logger.exception("birth hook failed for %s session %d", birth.device_id, birth.session)
