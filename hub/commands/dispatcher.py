"""Command dispatcher: sign queued commands, send them to online devices, retry, expire.

It only decides and records; the MQTT worker publishes the ``Outbound`` messages it returns.
Claims are conditional UPDATEs, so several workers never send the same attempt twice.

One command in flight per device: a device's next queued command is sent only once the one
before it has a final answer. A device accepts only a cseq newer than the last it accepted,
so a retried command overtaken by a later one would be refused as a replay; and the parts of
a list sync must arrive in order (docs/access.md section 2).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import Clock
from hub.commands import list_sync, service, worker_sync
from hub.commands.models import Command, CommandStatus
from hub.devices.models import Device, DeviceStatus
from hub.keys import HubKey
from hub.mqtt_messages import Outbound

logger = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        hub_key: HubKey,
        *,
        clock: Clock,
        retry_interval_s: float = 30.0,
        max_retries: int = 5,
        batch: int = 200,
    ) -> None:
        self.session_factory = session_factory
        self.hub_key = hub_key
        self.clock = clock
        self.retry_interval = timedelta(seconds=retry_interval_s)
        self.max_retries = max_retries
        self.batch = batch
        self._workers_due: datetime | None = None  # the next worker-list pass

    def tick(self) -> list[Outbound]:
        """One pass: expire, send queued, retry or time out unanswered. Never raises."""
        try:
            with self.session_factory() as db_session:
                out = self._tick(db_session)
                db_session.commit()
                return out
        except Exception:  # noqa: BLE001 - the worker must survive a bad pass
            logger.exception("command dispatch pass failed")
            return []

    def _tick(self, db_session: Session) -> list[Outbound]:
        now = self.clock.now()
        expired = service.expire_due(db_session=db_session, at=now)
        if expired:
            logger.info("expired %d command(s)", expired)
        list_sync.reconcile(db_session=db_session, clock=self.clock)
        if self._workers_due is None or now >= self._workers_due:
            worker_sync.reconcile(db_session=db_session, clock=self.clock)
            self._workers_due = now + timedelta(seconds=worker_sync.INTERVAL_S)
        out: list[Outbound] = []
        online = (
            select(Device.id)
            .where(Device.online.is_(True), Device.status == DeviceStatus.active.value)
            .scalar_subquery()
        )
        in_flight = (
            select(Command.device_id)
            .where(Command.status.in_([CommandStatus.sent.value, CommandStatus.delivered.value]))
            .scalar_subquery()
        )
        first = (
            select(Command.device_id, func.min(Command.cseq).label("cseq"))
            .where(
                Command.status == CommandStatus.queued.value,
                Command.device_id.in_(online),
                Command.device_id.not_in(in_flight),
            )
            .group_by(Command.device_id)
            .subquery()
        )
        queued = db_session.scalars(
            select(Command)
            .join(first, (Command.device_id == first.c.device_id) & (Command.cseq == first.c.cseq))
            .order_by(Command.device_id)
            .limit(self.batch)
        ).all()
        for cmd in queued:
            cmd.sealed = service.seal(cmd, self.hub_key.seed, now)
            db_session.expunge(cmd)
            if service.claim_send(db_session=db_session, cmd=cmd, at=now, retry=False):
                out.append(Outbound(service.topic_for(cmd), cmd.sealed))
        due = now - self.retry_interval
        stale = db_session.scalars(
            select(Command)
            .where(Command.status == CommandStatus.sent.value, Command.sent_at <= due)
            .order_by(Command.sent_at)
            .limit(self.batch)
        ).all()
        online_ids = set(db_session.scalars(select(Device.id).where(Device.id.in_(online))))
        for cmd in stale:
            if cmd.retries >= self.max_retries:
                service.time_out(
                    db_session=db_session, cmd=cmd, detail=f"no answer after {cmd.retries} retries"
                )
            elif cmd.device_id in online_ids and cmd.sealed:
                if service.claim_send(db_session=db_session, cmd=cmd, at=now, retry=True):
                    out.append(Outbound(service.topic_for(cmd), cmd.sealed))
        return out
