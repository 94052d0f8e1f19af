"""A password belongs to its token (not its name); one live token per name; the lock holds
against parallel guesses. SQLite here; the same on PostgreSQL in test_postgres.py."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.app import create_app
from hub.auth import passwords
from hub.auth.models import AccountPassword, ApiToken
from hub.auth.passwords import SIGN_IN_FAILED
from hub.clock import FrozenClock
from hub.db import make_engine
from hub.errors import AuthenticationError
from hub.migrations.runner import upgrade
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.auth.test_sessions import ADMIN, PASSWORD, STREET_A, bearer, set_password, sign_in

ROOT = {"Authorization": "Bearer gridlink-dev-admin-token"}


def token_id(client: TestClient, demo: DemoData, name: str) -> int:
    rows = client.get("/api/tokens", headers=bearer(demo, ADMIN)).json()
    return next(t["id"] for t in rows if t["name"] == name and t["revoked_at"] is None)


def test_a_revoked_tokens_password_is_not_inherited_by_its_successor(
    client: TestClient, demo: DemoData, db_session: Session
) -> None:
    assert set_password(client, demo, STREET_A).status_code == 204
    old = token_id(client, demo, STREET_A)
    assert client.delete(f"/api/tokens/{old}", headers=bearer(demo, ADMIN)).status_code == 200
    assert db_session.scalar(select(func.count()).select_from(AccountPassword)) == 0
    # a new token with the name (here an admin one, made by the district admin) has no password
    made = client.post(
        "/api/tokens",
        json={"name": STREET_A, "role": "admin", "scope_code": "330102001"},
        headers=bearer(demo, ADMIN),
    )
    assert made.status_code == 201, made.text
    again = sign_in(client, STREET_A)
    assert again.status_code == 401 and again.json()["message"] == SIGN_IN_FAILED


def test_a_live_name_cannot_be_taken_twice(client: TestClient, demo: DemoData) -> None:
    squat = client.post(
        "/api/tokens",
        json={"name": STREET_A, "role": "operator", "scope_code": "330102002"},
        headers=bearer(demo, ADMIN),
    )
    assert squat.status_code == 409
    held = token_id(client, demo, STREET_A)
    assert squat.json() == {
        "code": "conflict",
        "message": f"a live token is already named {STREET_A!r} (token {held}): a name is one "
        "account, so choose another name or revoke that token first",
    }
    # the account is not blocked: its password is set and opens a session
    assert set_password(client, demo, STREET_A).status_code == 204
    assert sign_in(client, STREET_A).status_code == 201


def test_the_database_holds_one_live_token_per_name_and_drops_a_deleted_tokens_password(
    client: TestClient, demo: DemoData, session_factory: sessionmaker[Session]
) -> None:
    set_password(client, demo, STREET_A)
    held = token_id(client, demo, STREET_A)
    with session_factory() as db_session, pytest.raises(IntegrityError):
        db_session.execute(
            text(
                "INSERT INTO api_tokens (name, token_hash, prefix, role, created_at) "
                "VALUES (:name, 'x', 'x', 'admin', '2026-01-05 01:00:00')"
            ),
            {"name": STREET_A},
        )
    with session_factory() as db_session:
        db_session.execute(delete(ApiToken).where(ApiToken.id == held))
        db_session.commit()
        assert db_session.scalar(select(func.count()).select_from(AccountPassword)) == 0


def guess_in_parallel(
    factory: sessionmaker[Session], settings: Settings, clock: FrozenClock, n: int
) -> list[BaseException | None]:
    start = threading.Barrier(n)
    outcomes: list[BaseException | None] = [None] * n

    def guess(i: int) -> None:
        with factory() as db_session:
            start.wait()
            try:
                passwords.sign_in(
                    db_session=db_session,
                    account=STREET_A,
                    password=f"wrong guess number {i}",
                    settings=settings,
                    clock=clock,
                )
                db_session.commit()
            except BaseException as exc:  # noqa: BLE001 - every outcome is checked below
                outcomes[i] = exc

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return outcomes


def check_parallel_guesses_lock(
    factory: sessionmaker[Session], settings: Settings, clock: FrozenClock
) -> None:
    """12 wrong passwords at once lock the account (each counted, not read-then-written)."""
    outcomes = guess_in_parallel(factory, settings, clock, 12)
    assert all(isinstance(o, AuthenticationError) for o in outcomes), outcomes
    with factory() as db_session:
        row = db_session.scalars(select(AccountPassword)).one()
        assert row.locked_until is not None and row.failed_attempts == settings.login_max_failures
        with pytest.raises(AuthenticationError):  # locked: even the right password fails
            passwords.sign_in(
                db_session=db_session,
                account=STREET_A,
                password=PASSWORD,
                settings=settings,
                clock=clock,
            )
        clock.advance(seconds=settings.login_lockout_s)
        token = passwords.sign_in(
            db_session=db_session,
            account=STREET_A,
            password=PASSWORD,
            settings=settings,
            clock=clock,
        )
        db_session.commit()
        assert token.name == STREET_A
        db_session.refresh(row)
        assert row.failed_attempts == 0 and row.locked_until is None


def test_parallel_wrong_passwords_lock_the_account(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    set_password(client, demo, STREET_A)
    check_parallel_guesses_lock(session_factory, settings, clock)


def test_the_migration_refuses_live_tokens_sharing_a_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url, "0007_ota_fresh_failures")
    engine = make_engine(url)
    with engine.begin() as conn:
        for i in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO api_tokens (name, token_hash, prefix, role, created_at) "
                    f"VALUES ('值班员', 'h{i}', 'p', 'admin', '2026-01-05 01:00:00')"
                )
            )
    engine.dispose()
    with pytest.raises(RuntimeError) as refused:
        upgrade(url)
    assert str(refused.value) == (
        "live API tokens share a name: '值班员' (2 tokens); a name is an account's key, so "
        "revoke all but one of each (DELETE /api/tokens/{id}) and migrate again"
    )


def test_password_checks_beyond_the_limit_are_429(
    client: TestClient, demo: DemoData, db_session: Session, settings: Settings
) -> None:
    set_password(client, demo, STREET_A)
    assert sign_in(client, STREET_A, "wrong password!").status_code == 401  # makes the slots
    slots = client.app.state.password_check_slots  # type: ignore[attr-defined]
    for _ in range(settings.login_concurrent_checks):  # every slot busy with another check
        assert slots.acquire(blocking=False)
    try:
        busy = sign_in(client, STREET_A)
        assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
        assert busy.json() == {
            "code": "busy",
            "message": "too many sign-ins at once: try again in a moment",
        }
        # a token sign-in costs no password check: not limited
        by_token = client.post("/api/session", json={"token": demo.tokens[STREET_A]})
        assert by_token.status_code == 201
    finally:
        for _ in range(settings.login_concurrent_checks):
            slots.release()
    row = db_session.scalars(select(AccountPassword)).one()
    assert row.failed_attempts == 1  # the refused one was not counted
    assert sign_in(client, STREET_A).status_code == 201


def test_parallel_sign_ins_get_429_not_a_queue(
    settings: Settings, clock: FrozenClock, demo: DemoData, client: TestClient
) -> None:
    set_password(client, demo, STREET_A)
    app = create_app(
        settings=settings.model_copy(update={"login_concurrent_checks": 1}), clock=clock
    )
    codes: list[int] = []
    start = threading.Barrier(6)
    with TestClient(app) as browser:

        def attempt() -> None:
            start.wait()
            codes.append(sign_in(browser, "no-such-account", "wrong password!").status_code)

        threads = [threading.Thread(target=attempt) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    app.state.engine.dispose()
    assert len(codes) == 6 and set(codes) <= {401, 429} and 401 in codes and 429 in codes, codes


def test_a_large_sign_in_body_is_413_before_it_is_parsed(client: TestClient) -> None:
    big = client.post("/api/session", json={"account": "x", "password": "p" * 5000})
    assert big.status_code == 413
    assert big.json() == {
        "code": "too_large",
        "message": "the request body is too large: at most 4096 bytes",
    }

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(100):
            yield b" " * 1000

    streamed = client.post(
        "/api/session", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    small = client.post("/api/session", json={"account": "x", "password": "wrong password!"})
    assert small.status_code == 401


def check_bad_input_is_refused_cleanly(client: TestClient, admin: dict[str, str]) -> None:
    """NUL in an account name and non-ASCII CSRF headers: precise 4xx, never a 500."""
    body = client.post("/api/session", json={"account": "a\x00b", "password": "wrong password!"})
    assert body.status_code == 422 and "NUL" in body.json()["message"], body.text
    token = client.post("/api/session", json={"token": "glt_\x00"})
    assert token.status_code == 422
    put = client.put("/api/accounts/a%00b/password", json={"password": PASSWORD}, headers=admin)
    assert put.status_code == 422 and "NUL" in put.json()["message"], put.text
    ended = client.delete("/api/accounts/a%00b/sessions", headers=admin)
    assert ended.status_code == 422
    made = client.post("/api/tokens", json={"name": "a\x00b", "role": "admin"}, headers=admin)
    assert made.status_code == 422
    # a signed-in browser sending a CSRF header that is not ASCII
    signed = client.post("/api/session", json={"token": admin["Authorization"][7:]})
    assert signed.status_code == 201, signed.text
    csrf = signed.json()["csrf_token"]
    for bad in ("é".encode(), csrf[:-1].encode() + "é".encode(), b"\xff" * 64):
        wrong = client.post(
            "/api/tokens", json={"name": "csrf", "role": "admin"}, headers={"X-CSRF-Token": bad}
        )
        assert wrong.status_code == 403 and "X-CSRF-Token" in wrong.json()["message"]
    client.cookies.clear()


def test_bad_input_is_refused_cleanly(client: TestClient, demo: DemoData) -> None:
    check_bad_input_is_refused_cleanly(client, bearer(demo, ADMIN))
