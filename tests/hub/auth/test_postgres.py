"""Passwords and console sessions on PostgreSQL: the 0008 tables up and down, sign-in, the
lock after wrong passwords, a session's principal, sign-out."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from hub.auth import passwords, sessions
from hub.clock import FrozenClock
from hub.db import make_engine, make_session_factory
from hub.errors import AuthenticationError
from hub.migrations.runner import downgrade, upgrade
from hub.seed import seed_demo
from hub.settings import Settings
from tests.hub.conftest import START
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the module's cluster fixture

pytestmark = pytest.mark.slow

ACCOUNT = "street-330102001-operator"


def test_sessions_and_lockout_on_postgres(postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    settings = Settings(env="development", data_dir=tmp_path, database_url=postgres_url)
    clock = FrozenClock(START)
    try:
        assert {"account_passwords", "console_sessions"} <= set(inspect(engine).get_table_names())
        factory = make_session_factory(engine)
        with factory() as db_session:
            seed_demo(db_session=db_session, clock=clock)
            passwords.set_password(
                db_session=db_session,
                account=ACCOUNT,
                password="a postgres passphrase",
                by="test",
                scope_code=None,
                settings=settings,
                clock=clock,
            )
            db_session.commit()
        with factory() as db_session:
            token = passwords.sign_in(
                db_session=db_session,
                account=ACCOUNT,
                password="a postgres passphrase",
                settings=settings,
                clock=clock,
            )
            opened = sessions.open_session(
                db_session=db_session,
                token=token,
                method="password",
                settings=settings,
                clock=clock,
            )
            db_session.commit()
            principal = sessions.session_principal(
                db_session=db_session, secret=opened.secret, settings=settings, clock=clock
            )
            assert principal.scope_code == "330102001" and principal.session_id == opened.row.id
            for _ in range(settings.login_max_failures):
                with pytest.raises(AuthenticationError):
                    passwords.sign_in(
                        db_session=db_session,
                        account=ACCOUNT,
                        password="wrong wrong wrong",
                        settings=settings,
                        clock=clock,
                    )
                db_session.commit()
            with pytest.raises(AuthenticationError):  # locked: even the right password fails
                passwords.sign_in(
                    db_session=db_session,
                    account=ACCOUNT,
                    password="a postgres passphrase",
                    settings=settings,
                    clock=clock,
                )
            clock.advance(timedelta(seconds=10))
            sessions.end_session(db_session=db_session, session_id=opened.row.id, at=clock.now())
            db_session.commit()
            with pytest.raises(AuthenticationError):
                sessions.session_principal(
                    db_session=db_session, secret=opened.secret, settings=settings, clock=clock
                )
    finally:
        engine.dispose()
    downgrade(postgres_url, "0007_ota_fresh_failures")
    engine = make_engine(postgres_url)
    try:
        names = set(inspect(engine).get_table_names())
        assert "account_passwords" not in names and "console_sessions" not in names
    finally:
        engine.dispose()
