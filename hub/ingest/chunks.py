"""Media chunk frames from ``gl/v1/{dev}/blob``: group per blob, store, count, remember."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from hub.media import service as media
from hub.media.store import BlobStore
from hub.mqtt_messages import Inbound
from protocol import chunking
from protocol.errors import ProtocolError

Reject = Callable[[str, str | None, str], None]
Completed = Callable[[Session, str], None]


def handle_chunks(
    *,
    session_factory: sessionmaker[Session],
    store: BlobStore,
    msgs: list[tuple[str, Inbound]],
    at: datetime,
    reject: Reject,
    touched: dict[str, set[str]],
    on_complete: Completed | None = None,
) -> tuple[int, int]:
    """Store the chunks of announced blobs (one transaction per blob); returns the chunks
    stored and the chunks already held (redeliveries), so every frame is counted once.

    A chunk is accepted for a blob some device announced in a verified envelope; its bytes are
    checked by the blob's SHA-256 when complete, so the sender does not need to be trusted.
    ``on_complete`` runs in the transaction that completes a blob (the case evidence trigger).
    """
    groups: dict[tuple[str, str], list[tuple[int, int, memoryview]]] = defaultdict(list)
    for dev, msg in msgs:
        try:
            sha, index, total, payload = chunking.parse_frame(msg.payload)
        except ProtocolError as exc:
            reject(exc.reason, dev, f"chunk: {exc.message}")
            continue
        groups[(dev, sha)].append((index, total, payload))
    stored = duplicates = 0
    for (dev, sha), chunks in groups.items():
        with session_factory() as db_session:
            if media.get_blob(db_session=db_session, sha256=sha) is None:
                for _ in chunks:
                    reject("bad_blob", dev, f"chunk of unannounced blob {sha[:12]}")
                continue
            res = media.store_chunks(
                db_session=db_session, store=store, sha256=sha, chunks=chunks, at=at
            )
            if res.completed and on_complete is not None:
                on_complete(db_session, sha)
            db_session.commit()
        stored += res.stored
        duplicates += res.duplicates
        for reason, detail in res.rejected:
            reject(reason, dev, detail)
        touched[dev].add(sha)
    return stored, duplicates
