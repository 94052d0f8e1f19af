"""The naive ingest peer: everything in paho's ``on_message`` callback, on paho's network thread.

Per message: parse, Ed25519 verify (``peer_common.check``), one SQLAlchemy ORM ``session.add``
and ``commit``. paho acknowledges a QoS 1 message automatically once the callback returned, so
the PUBACK follows the commit. A duplicate (device, seq) fails the unique constraint: rolled
back and dropped. MQTT v5, persistent session (clean start off, session expiry 1 h), QoS 1.

    python -m bench.ingest_peers.peer_naive CONFIG.json     (written by peers.NaivePeer)
"""

from __future__ import annotations

import sys
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Integer, LargeBinary, String, Text, UniqueConstraint, create_engine, event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from .peer_common import READY, PeerConfig, Rejected, check, logger, row, sqlite_pragmas

log = logger("naive")


class Base(DeclarativeBase):
    pass


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("device_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String, nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String, nullable=False)
    ts: Mapped[int] = mapped_column(Integer, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    raw: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


def main(config_path: str) -> None:
    cfg = PeerConfig.load(config_path)
    keys = cfg.keys()
    engine = create_engine(f"sqlite:///{cfg.db_path}")
    event.listen(engine, "connect", lambda conn, _record: sqlite_pragmas(conn))
    Base.metadata.create_all(engine)
    Session = sessionmaker(engine)

    def on_message(_client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            env = check(msg.topic, msg.payload, keys)
        except Rejected as exc:
            log.warning("rejected %s: %s", msg.topic, exc)
            return
        dev, seq, kind, ts, body, raw = row(env, msg.payload)
        with Session() as session:
            session.add(Event(device_id=dev, seq=seq, kind=kind, ts=ts, body=body, raw=raw))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                log.info("duplicate %s/%s dropped", dev, seq)

    def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        client.subscribe(cfg.topic, qos=1)

    def on_subscribe(_c: mqtt.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        if all(not r.is_failure for r in reasons):
            log.info(READY)
        else:
            log.error("subscription refused: %s", reasons)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(cfg.username, cfg.password)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect(cfg.host, cfg.port, clean_start=False, properties=props)
    client.loop_forever()


if __name__ == "__main__":
    main(sys.argv[1])
