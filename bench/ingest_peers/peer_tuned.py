"""The tuned hand-written ingest peer: paho's callback only queues, one worker thread does the rest.

The worker takes whatever is waiting on the ``queue.Queue`` (one blocking ``get``, then
``get_nowait`` until the queue is empty or ``MAX_BATCH`` messages; never a fixed wait), verifies
each (``peer_common.check``), writes the valid ones with one ``executemany`` ``INSERT OR IGNORE``
in one transaction (a duplicate (device, seq) is ignored by the unique constraint), commits, and
only then acknowledges the batch's messages (paho ``manual_ack=True``). MQTT v5, persistent
session (clean start off, session expiry 1 h), QoS 1. A failed commit ends the process without
acknowledging: the broker redelivers the batch to the session.

    python -m bench.ingest_peers.peer_tuned CONFIG.json     (written by peers.TunedPeer)
"""

from __future__ import annotations

import os
import queue
import sqlite3
import sys
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .peer_common import (
    INSERT,
    READY,
    PeerConfig,
    Rejected,
    check,
    create_schema,
    logger,
    row,
    sqlite_pragmas,
)

MAX_BATCH = 1000
log = logger("tuned")


def main(config_path: str) -> None:
    cfg = PeerConfig.load(config_path)
    keys = cfg.keys()
    create_schema(cfg.db_path)
    db = sqlite3.connect(cfg.db_path, check_same_thread=False)  # the worker's alone
    sqlite_pragmas(db)
    inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=cfg.client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )

    def work() -> None:
        while True:
            batch = [inbox.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(inbox.get_nowait())
                except queue.Empty:
                    break
            rows = []
            for m in batch:
                try:
                    rows.append(row(check(m.topic, m.payload, keys), m.payload))
                except Rejected as exc:
                    log.warning("rejected %s: %s", m.topic, exc)
            try:
                with db:  # one transaction, committed (synchronous=FULL) when the block ends
                    db.executemany(INSERT, rows)
            except sqlite3.Error:
                log.exception("commit failed; exiting unacknowledged (the broker redelivers)")
                os._exit(1)
            for m in batch:
                client.ack(m.mid, m.qos)

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

    client.username_pw_set(cfg.username, cfg.password)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = lambda _c, _u, msg: inbox.put(msg)
    threading.Thread(target=work, name="ingest-worker", daemon=True).start()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect(cfg.host, cfg.port, clean_start=False, properties=props)
    client.loop_forever()


if __name__ == "__main__":
    main(sys.argv[1])
