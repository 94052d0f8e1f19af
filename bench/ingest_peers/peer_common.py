"""What the two Python peers (``peer_naive``, ``peer_tuned``) share: their configuration file, the
``events`` table, the SQLite pragmas and the envelope check.

The check is the protocol's own definition of an event's signature (protocol/sealed.py,
protocol/envelope.py), written out with ``cryptography``'s Ed25519 rather than through the
protocol package's ``verify``:

    msg = b"gridlink/v1/evt\\n" + SHA-256(canonical JSON of the envelope without "sig")

``protocol.envelope.parse`` does the parsing (size limit, canonical form, envelope schema): what
any Python user of the project's protocol package would call. The topic must name the envelope's
device and kind (the broker lets a device publish only on its own topics).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol import canonical, envelope
from protocol.errors import ProtocolError

SIGNED_PREFIX = b"gridlink/v1/" + envelope.DOMAIN + b"\n"

SCHEMA = """CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ts INTEGER NOT NULL,
    body TEXT NOT NULL,
    raw BLOB NOT NULL,
    UNIQUE (device_id, seq)
)"""

INSERT = (
    "INSERT OR IGNORE INTO events (device_id, seq, kind, ts, body, raw) VALUES (?, ?, ?, ?, ?, ?)"
)

READY = "PEER READY"  # the line a child logs once its subscription is acknowledged


class Rejected(Exception):
    """The message is not a valid event of the device its topic names."""


@dataclass(frozen=True)
class PeerConfig:
    host: str
    port: int
    username: str
    password: str
    client_id: str
    topic: str
    db_path: str
    keys_path: str  # JSON {device id: public key hex}

    @classmethod
    def load(cls, path: str | Path) -> PeerConfig:
        return cls(**json.loads(Path(path).read_text()))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=1))

    def keys(self) -> dict[str, Ed25519PublicKey]:
        raw = json.loads(Path(self.keys_path).read_text())
        return {
            dev: Ed25519PublicKey.from_public_bytes(bytes.fromhex(pk)) for dev, pk in raw.items()
        }


def sqlite_pragmas(conn: Any) -> None:
    """Gridlink's durability (hub/db.py): WAL, a commit is on disk when it returns."""
    cur = conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def create_schema(db_path: str | Path) -> None:
    conn = sqlite3.connect(db_path)
    try:
        sqlite_pragmas(conn)
        conn.execute(SCHEMA)
        conn.commit()
    finally:
        conn.close()


def check(topic: str, raw: bytes, keys: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    """The envelope, or ``Rejected`` with the reason."""
    try:
        env: dict[str, Any] = envelope.parse(raw)
    except ProtocolError as exc:
        raise Rejected(f"malformed: {exc}") from None
    parts = topic.split("/")
    if len(parts) != 5 or parts[2] != env["dev"] or parts[4] != env["kind"]:
        raise Rejected("the topic does not name the envelope's device and kind")
    key = keys.get(env["dev"])
    if key is None:
        raise Rejected(f"unknown device {env['dev']}")
    unsigned = {k: v for k, v in env.items() if k != "sig"}
    message = SIGNED_PREFIX + hashlib.sha256(canonical.dumps(unsigned)).digest()
    try:
        key.verify(bytes.fromhex(env["sig"]), message)
    except InvalidSignature:
        raise Rejected("bad signature") from None
    return env


def row(env: dict[str, Any], raw: bytes) -> tuple[str, int, str, int, str, bytes]:
    """The ``events`` columns after ``id``: device_id, seq, kind, ts, body (canonical JSON), raw."""
    body = canonical.dumps(env["body"]).decode()
    return env["dev"], env["seq"], env["kind"], env["ts"], body, bytes(raw)


def logger(name: str) -> logging.Logger:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    return logging.getLogger(name)
