"""Database plumbing: declarative base, engine factory (SQLite WAL or PostgreSQL), sessions.

Only ``gridlink hub migrate`` creates a database: ``make_engine`` never makes directories, and
the CLI calls ``require_database`` before it opens one (SQLite would create a missing file on
the first connection).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_SYNCHRONOUS = "FULL"  # durable commits in WAL mode (see _sqlite_pragmas)


class DatabaseMissingError(Exception):
    """A SQLite database file (or, for ``migrate``, its directory) does not exist."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always returned timezone-aware (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # FULL: in WAL mode every commit fsyncs the WAL, so a committed transaction survives a power
    # loss. NORMAL syncs only at checkpoints: a commit may be lost (not corrupted) on power
    # loss, and the hub PUBACKs and receipts a batch right after its commit.
    cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    # deleted rows are overwritten with zeros, so data past its retention (docs/basedata.md)
    # cannot be read back from the file's free pages
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def checkpoint_wal(engine: Engine) -> bool:
    """SQLite: copy the write-ahead log into the database and truncate it, so the old images
    of deleted rows leave the WAL too (after a retention pass). True when it completed (a
    reader or writer busy at that moment leaves some frames to the next one); other
    databases: nothing to do (PostgreSQL's VACUUM reclaims deleted rows), False."""
    if engine.dialect.name != "sqlite":
        return False
    with engine.connect() as conn:
        busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
    return busy == 0


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; ``None`` for other databases, ``:memory:`` and URI filenames."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def require_database(url: str, *, create: bool = False) -> None:
    """Refuse a SQLite database that is not there: with ``create`` (``migrate``) the file may be
    missing but its directory must exist; without it the file must exist. Other databases are
    checked by connecting to them."""
    path = sqlite_path(url)
    if path is None:
        return
    if create:
        if not path.parent.is_dir():
            raise DatabaseMissingError(f"no directory {path.parent} for the database {path}")
    elif not path.is_file():
        raise DatabaseMissingError(f"no database at {path}; run gridlink hub migrate")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; for SQLite (the directory must exist) enable WAL with
    ``synchronous=FULL`` (a commit is on disk when it returns), FKs, busy_timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transactional scope: commit on success, roll back on error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
