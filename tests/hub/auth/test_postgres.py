"""Passwords and console sessions on PostgreSQL: the 0008 tables up and down, sign-in, the
lock after wrong passwords (also in parallel), a session's principal, sign-out, one live token
per name, a password going with its token."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.app import create_app
from hub.auth import passwords, service, sessions
from hub.auth.models import AccountPassword, ApiToken, Role
from hub.clock import FrozenClock
from hub.db import make_engine, make_session_factory
from hub.errors import AuthenticationError
from hub.migrations.runner import downgrade, upgrade
from hub.seed import seed_demo
from hub.settings import Settings
from tests.hub.auth.test_passwords import (
    check_bad_input_is_refused_cleanly,
    check_parallel_guesses_lock,
)
from tests.hub.auth.test_sessions import PASSWORD
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
            demo = seed_demo(db_session=db_session, clock=clock)
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
        check_tokens_and_parallel_guesses(factory, settings, clock)
        app = create_app(settings=settings, clock=clock)
        with TestClient(app) as client:
            check_bad_input_is_refused_cleanly(
                client, {"Authorization": f"Bearer {demo.tokens['district-admin']}"}
            )
        app.state.engine.dispose()
    finally:
        engine.dispose()
    downgrade(postgres_url, "0007_ota_fresh_failures")
    engine = make_engine(postgres_url)
    try:
        names = set(inspect(engine).get_table_names())
        assert "account_passwords" not in names and "console_sessions" not in names
    finally:
        engine.dispose()


def check_tokens_and_parallel_guesses(
    factory: sessionmaker[Session], settings: Settings, clock: FrozenClock
) -> None:
    with factory() as db_session:
        held = passwords.account_token(db_session=db_session, account=ACCOUNT)
        with pytest.raises(IntegrityError):  # the partial unique index, on PostgreSQL too
            db_session.execute(
                text(
                    "INSERT INTO api_tokens (name, token_hash, prefix, role, created_at) "
                    "VALUES (:name, 'x', 'x', 'admin', now())"
                ),
                {"name": ACCOUNT},
            )
        db_session.rollback()
        # revoking the token drops its password; a new token of the name has none
        service.revoke_token(
            db_session=db_session,
            token_id=held.id,
            by=service.Principal(name="root", role=Role.admin),
            at=clock.now(),
        )
        db_session.commit()
        assert db_session.scalar(select(func.count()).select_from(AccountPassword)) == 0
        service.create_token(
            db_session=db_session, name=ACCOUNT, role=Role.operator, scope_code="330102001",
            clock=clock,
        )  # fmt: skip
        db_session.commit()
        with pytest.raises(AuthenticationError):
            passwords.sign_in(
                db_session=db_session,
                account=ACCOUNT,
                password="a postgres passphrase",
                settings=settings,
                clock=clock,
            )
        passwords.set_password(
            db_session=db_session, account=ACCOUNT, password=PASSWORD, by="test",
            scope_code=None, settings=settings, clock=clock,
        )  # fmt: skip
        db_session.commit()
    check_parallel_guesses_lock(factory, settings, clock)
    with factory() as db_session:  # deleting the token deletes its password (the foreign key)
        db_session.execute(delete(ApiToken).where(ApiToken.name == ACCOUNT))
        db_session.commit()
        assert db_session.scalar(select(func.count()).select_from(AccountPassword)) == 0
