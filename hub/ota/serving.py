"""The firmware download server (docs/ota.md, "Hub"): one reply per request on
``gl/v1/{dev}/fw`` for each request on ``gl/v1/{dev}/fwreq``. The same channel serves a
handheld the reference images of its open tasks (``hub.cases.field_tasks``) from the media
store.

A device is served only the sealed manifest and the files of a bundle of one of its own
unfinished rollout entries (queued ... updating); anything else (a media blob's sha, another
device's bundle, a finished entry) is refused ``not_offered``. Bundle bytes come from the OTA
store through an in-memory LRU cache of at most ``CACHE_BYTES`` (they are immutable). One
request that fails never costs the others of its batch their reply.
Refusals are counted in the worker's ``RejectionTally`` as ``fw_<reason>`` and logged.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.cases.field_tasks import offered_images
from hub.media.store import BlobStore
from hub.mqtt_messages import Inbound, Outbound
from hub.ota.models import IN_PROGRESS, BundleFile, Rollout, RolloutDevice
from protocol import bundle, chunking, topics
from protocol.errors import ProtocolError

logger = logging.getLogger(__name__)

Reject = Callable[[str, str | None, str], None]
CACHE_BYTES = 16 * 1024 * 1024  # bytes held in memory (manifests and files) per worker
SALVAGE_MAX = 256  # a malformed request longer than this is not read for its sha
_IN_PROGRESS = [s.value for s in IN_PROGRESS]


class FirmwareServer:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        store: BlobStore | None,
        media_store: BlobStore | None = None,
    ) -> None:
        """``store``: the OTA store (None: no firmware is offered); ``media_store``: where the
        reference images of a handheld's open tasks are (None: none are offered)."""
        self.session_factory = session_factory
        self.store = store
        self.media_store = media_store
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cached = 0  # bytes in _cache
        self.served = 0
        self.refused = 0

    def _offered(self, db_session: Session, device_id: str, sha: str) -> bool:
        bundles = (
            select(Rollout.bundle_id)
            .join(RolloutDevice, RolloutDevice.rollout_id == Rollout.id)
            .where(RolloutDevice.device_id == device_id, RolloutDevice.state.in_(_IN_PROGRESS))
        )
        if sha in set(db_session.scalars(bundles)):
            return True
        hit = db_session.scalar(
            select(BundleFile.sha256)
            .where(BundleFile.sha256 == sha, BundleFile.bundle_id.in_(bundles.scalar_subquery()))
            .limit(1)
        )
        return hit is not None

    def _content(self, sha: str, store: BlobStore) -> bytes:
        data = self._cache.get(sha)
        if data is None:
            with store.open(sha) as handle:
                data = handle.read()
            if len(data) <= CACHE_BYTES:
                self._cache[sha] = data
                self._cached += len(data)
            while self._cached > CACHE_BYTES:
                self._cached -= len(self._cache.popitem(last=False)[1])
        else:
            self._cache.move_to_end(sha)
        return data

    def handle(self, msgs: list[Inbound], reject: Reject) -> list[Outbound]:
        """One reply per request (a malformed one with an unparseable sha gets none: there is
        nothing to name; it is counted all the same)."""
        out: list[Outbound] = []
        with self.session_factory() as db_session:
            for msg in msgs:
                try:
                    reply = self._one(db_session, msg, reject)
                except Exception:  # noqa: BLE001 - one request never costs the others theirs
                    logger.exception("firmware request on %s failed", msg.topic)
                    self.refused += 1
                    db_session.rollback()
                    continue
                if reply is not None:
                    out.append(reply)
        return out

    @property
    def cached_bytes(self) -> int:
        return self._cached

    def _refuse(
        self, reject: Reject, dev: str, sha: str, i: int, reason: str, why: str
    ) -> Outbound:
        self.refused += 1
        reject("fw_" + reason, dev, why)
        return Outbound(topics.fw(dev), bundle.fetch_error(sha, i, reason))

    def _one(self, db_session: Session, msg: Inbound, reject: Reject) -> Outbound | None:
        try:
            dev, channel, _k = topics.parse(msg.topic)
        except ProtocolError as exc:
            reject("malformed", None, f"topic {msg.topic!r}: {exc.message}")
            return None
        try:
            sha, i, cs = bundle.parse_fetch_request(bytes(msg.payload))
        except ProtocolError as exc:
            self.refused += 1
            reject("fw_malformed", dev, f"firmware request: {exc.message}")
            sha_i = _salvage(bytes(msg.payload))
            if sha_i is None:
                return None
            return Outbound(topics.fw(dev), bundle.fetch_error(sha_i[0], sha_i[1], "malformed"))
        except Exception as exc:  # noqa: BLE001 - one bad request never stops the server
            self.refused += 1
            reject("fw_malformed", dev, f"firmware request: unparseable: {exc!r}"[:200])
            return None
        store = (
            self.store if self.store is not None and self._offered(db_session, dev, sha) else None
        )
        if (
            store is None
            and self.media_store is not None
            and sha in offered_images(db_session=db_session, device_id=dev)
        ):
            store = self.media_store  # a reference image of one of the device's open tasks
        if store is None:
            return self._refuse(reject, dev, sha, i, "not_offered", f"{sha[:12]} not offered to it")
        try:
            data = self._content(sha, store)
        except FileNotFoundError:
            logger.error("ota store lacks %s (offered to %s)", sha, dev)
            return self._refuse(reject, dev, sha, i, "not_offered", f"{sha[:12]} not in the store")
        total = chunking.chunk_count(len(data), cs)
        if i >= max(total, 1):
            return self._refuse(
                reject, dev, sha, i, "out_of_range", f"{sha[:12]} chunk {i} of {total}"
            )
        self.served += 1
        header = chunking.pack_header(bytes.fromhex(sha), i, total)
        return Outbound(topics.fw(dev), header + data[i * cs : (i + 1) * cs])


def _salvage(payload: bytes) -> tuple[str, int] | None:
    """The sha and index of a short request refused as malformed, when they can be read."""
    if len(payload) > SALVAGE_MAX:
        return None
    try:
        obj = json.loads(payload)
    except Exception:  # noqa: BLE001 - whatever it is, there is nothing to name
        return None
    if not isinstance(obj, dict):
        return None
    sha, i = obj.get("sha"), obj.get("i")
    if isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha):
        return sha, i if type(i) is int and 0 <= i < 1 << 31 else 0
    return None
