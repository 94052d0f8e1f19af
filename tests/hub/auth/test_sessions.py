"""Console sign-in over HTTP: passwords (argon2id), sessions (cookie), CSRF, sign-out, lockout,
expiry, revocation; on SQLite here and on PostgreSQL in test_postgres.py."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app import create_app
from hub.auth.models import AccountPassword, ConsoleSession
from hub.auth.passwords import SIGN_IN_FAILED
from hub.auth.sessions import SESSION_EXPIRED
from hub.clock import FrozenClock
from hub.seed import DemoData
from hub.settings import Settings

STREET_A = "street-330102001-operator"
ADMIN = "district-admin"
PASSWORD = "grid lines 2026 ok"
COOKIE = "gridlink_session"


def bearer(demo: DemoData, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[label]}"}


def set_password(client: TestClient, demo: DemoData, account: str, password: str = PASSWORD):
    return client.put(
        f"/api/accounts/{account}/password",
        json={"password": password},
        headers=bearer(demo, ADMIN),
    )


def sign_in(client: TestClient, account: str, password: str = PASSWORD):
    return client.post("/api/session", json={"account": account, "password": password})


@pytest.fixture
def browser(settings: Settings, clock: FrozenClock, demo: DemoData):
    """A second client with its own cookie jar (a browser), on the same hub database."""
    app = create_app(settings=settings, clock=clock)
    with TestClient(app) as test_client:
        yield test_client
    app.state.engine.dispose()


def test_a_password_session_acts_as_the_accounts_token(
    client: TestClient, browser: TestClient, demo: DemoData, db_session: Session
) -> None:
    short = set_password(client, demo, STREET_A, "short")
    assert short.status_code == 422
    assert short.json()["message"] == "the password is too short: at least 12 characters"
    assert set_password(client, demo, STREET_A).status_code == 204

    resp = sign_in(browser, STREET_A)
    assert resp.status_code == 201, resp.text
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    attrs = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attrs and "secure" not in attrs
    body = resp.json()
    assert body["account"] == STREET_A and body["role"] == "operator"
    assert body["scope_code"] == "330102001" and body["method"] == "password"
    assert len(body["csrf_token"]) == 64 and body["idle_timeout_s"] == 1800

    # the same principal as the token, on every route a token works on
    assert (
        browser.get("/api/me").json()
        == client.get("/api/me", headers=bearer(demo, STREET_A)).json()
    )
    assert browser.get("/api/session").json()["csrf_token"] == body["csrf_token"]
    by_token = client.get("/api/areas", headers=bearer(demo, STREET_A)).json()
    assert browser.get("/api/areas").json() == by_token
    assert all(a["code"].startswith("330102001") for a in by_token if len(a["code"]) > 6)

    # only hashes at rest
    secret = browser.cookies[COOKIE]
    stored = db_session.scalars(select(ConsoleSession)).one()
    assert secret not in stored.secret_hash and stored.account == STREET_A
    row = db_session.get(AccountPassword, stored.token_id)
    assert row is not None and row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash


def test_state_changes_by_cookie_need_the_csrf_header(
    client: TestClient, browser: TestClient, demo: DemoData
) -> None:
    set_password(client, demo, ADMIN)
    csrf = sign_in(browser, ADMIN).json()["csrf_token"]
    body = {"name": "night shift", "role": "operator", "scope_code": "330102002"}
    missing = browser.post("/api/tokens", json=body)
    assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["message"]
    wrong = browser.post("/api/tokens", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    assert browser.get("/api/tokens").status_code == 200  # reads need no header
    right = browser.post("/api/tokens", json=body, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 201
    # a bearer token needs no CSRF header (a browser cannot be made to send one)
    day = {**body, "name": "day shift"}
    assert client.post("/api/tokens", json=day, headers=bearer(demo, ADMIN)).status_code == 201


def test_sign_in_takes_json_only(client: TestClient, browser: TestClient, demo: DemoData) -> None:
    set_password(client, demo, STREET_A)
    form = browser.post("/api/session", data={"account": STREET_A, "password": PASSWORD})
    assert form.status_code == 422 and COOKIE not in browser.cookies
    plain = browser.post(
        "/api/session",
        content=f'{{"account": "{STREET_A}", "password": "{PASSWORD}"}}',
        headers={"Content-Type": "text/plain"},
    )
    assert plain.status_code == 422 and COOKIE not in browser.cookies
    both = browser.post("/api/session", json={"account": STREET_A, "token": "x"})
    assert both.status_code == 422


def test_sign_out_ends_the_session_on_the_hub(
    client: TestClient, browser: TestClient, demo: DemoData
) -> None:
    set_password(client, demo, STREET_A)
    csrf = sign_in(browser, STREET_A).json()["csrf_token"]
    secret = browser.cookies[COOKIE]
    assert browser.delete("/api/session").status_code == 403  # no CSRF header
    out = browser.delete("/api/session", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert "max-age=0" in out.headers["set-cookie"].lower()  # the cookie is cleared
    # the old cookie, replayed, is dead
    client.cookies.set(COOKIE, secret)
    replay = client.get("/api/me")
    assert replay.status_code == 401 and replay.json()["message"] == SESSION_EXPIRED
    assert browser.get("/api/session").status_code == 401
    assert browser.delete("/api/session").status_code == 204  # nothing left: only clears


def test_every_failure_is_one_message_and_takes_the_same_time(
    client: TestClient, browser: TestClient, demo: DemoData
) -> None:
    set_password(client, demo, STREET_A)
    unknown = sign_in(browser, "no-such-account", PASSWORD)
    wrong = sign_in(browser, STREET_A, PASSWORD + "x")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json() == {"code": "unauthenticated", "message": SIGN_IN_FAILED}

    def median(account: str) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            assert sign_in(browser, account, "definitely wrong pw").status_code == 401
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    # both pay one argon2 verification (~tens of ms); without the dummy hash an unknown
    # account would answer in well under a millisecond
    unknown_s, known_s = median("no-such-account"), median(STREET_A)
    assert 0.4 < unknown_s / known_s < 2.5, (unknown_s, known_s)


def test_wrong_passwords_lock_the_account_for_a_while(
    client: TestClient, browser: TestClient, demo: DemoData, clock: FrozenClock, settings: Settings
) -> None:
    set_password(client, demo, STREET_A)
    for _ in range(settings.login_max_failures - 1):
        assert sign_in(browser, STREET_A, "wrong password!").status_code == 401
    assert sign_in(browser, STREET_A).status_code == 201  # a success resets the count
    for _ in range(settings.login_max_failures):
        assert sign_in(browser, STREET_A, "wrong password!").status_code == 401
    locked = sign_in(browser, STREET_A)  # the right password, during the lock
    assert locked.status_code == 401 and locked.json()["message"] == SIGN_IN_FAILED
    clock.advance(seconds=settings.login_lockout_s - 1)
    assert sign_in(browser, STREET_A).status_code == 401
    clock.advance(seconds=2)
    assert sign_in(browser, STREET_A).status_code == 201
    # an admin setting a new password lifts a lock at once
    for _ in range(settings.login_max_failures):
        sign_in(browser, STREET_A, "wrong password!")
    assert set_password(client, demo, STREET_A, "a brand new passphrase").status_code == 204
    assert sign_in(browser, STREET_A, "a brand new passphrase").status_code == 201
    # API tokens are not locked
    assert client.get("/api/me", headers=bearer(demo, STREET_A)).status_code == 200


def test_sessions_expire_when_idle_and_at_their_age(
    client: TestClient, browser: TestClient, demo: DemoData, clock: FrozenClock, settings: Settings
) -> None:
    set_password(client, demo, STREET_A)
    sign_in(browser, STREET_A)
    clock.advance(seconds=settings.session_idle_timeout_s + 1)
    idle = browser.get("/api/me")
    assert idle.status_code == 401 and idle.json()["message"] == SESSION_EXPIRED

    sign_in(browser, STREET_A)
    step = timedelta(seconds=settings.session_idle_timeout_s // 2)
    elapsed = timedelta()
    while elapsed + step < timedelta(seconds=settings.session_max_age_s):
        clock.advance(step)
        elapsed += step
        assert browser.get("/api/me").status_code == 200  # in use: never idle
    clock.advance(step)
    assert browser.get("/api/me").status_code == 401  # but never past its age


def test_revoking_the_token_or_resetting_the_password_ends_sessions(
    client: TestClient, browser: TestClient, demo: DemoData
) -> None:
    set_password(client, demo, STREET_A)
    sign_in(browser, STREET_A)
    assert set_password(client, demo, STREET_A, "another long passphrase").status_code == 204
    assert browser.get("/api/me").status_code == 401

    sign_in(browser, STREET_A, "another long passphrase")
    ended = client.delete(f"/api/accounts/{STREET_A}/sessions", headers=bearer(demo, ADMIN))
    assert ended.json() == {"ended": 1} and browser.get("/api/me").status_code == 401

    sign_in(browser, STREET_A, "another long passphrase")
    token_id = next(
        t["id"]
        for t in client.get("/api/tokens", headers=bearer(demo, ADMIN)).json()
        if t["name"] == STREET_A
    )
    client.delete(f"/api/tokens/{token_id}", headers=bearer(demo, ADMIN))
    assert browser.get("/api/me").status_code == 401
    # and a password no longer opens a session for a revoked account
    again = sign_in(browser, STREET_A, "another long passphrase")
    assert again.status_code == 401 and again.json()["message"] == SIGN_IN_FAILED


def test_passwords_are_set_by_admins_inside_their_area(client: TestClient, demo: DemoData) -> None:
    body = {"password": PASSWORD}
    as_operator = client.put(
        f"/api/accounts/{STREET_A}/password", json=body, headers=bearer(demo, STREET_A)
    )
    assert as_operator.status_code == 403
    created = client.post(
        "/api/tokens",
        json={"name": "root", "role": "admin"},
        headers={"Authorization": "Bearer gridlink-dev-admin-token"},
    )
    assert created.status_code == 201
    outside = client.put("/api/accounts/root/password", json=body, headers=bearer(demo, ADMIN))
    assert outside.status_code == 404 and outside.json()["message"] == "account 'root' not found"
    ghost = client.put("/api/accounts/ghost/password", json=body, headers=bearer(demo, ADMIN))
    assert ghost.status_code == 404
    spaced = client.put(
        f"/api/accounts/{STREET_A}/password",
        json={"password": " padded password "},
        headers=bearer(demo, ADMIN),
    )
    assert spaced.status_code == 422


def test_a_token_opens_a_session_but_not_the_bootstrap_admin(
    browser: TestClient, demo: DemoData
) -> None:
    resp = browser.post("/api/session", json={"token": demo.tokens[STREET_A]})
    assert resp.status_code == 201 and resp.json()["method"] == "token"
    assert browser.get("/api/me").json()["name"] == STREET_A
    bad = browser.post("/api/session", json={"token": "glt_nope"})
    assert bad.status_code == 401
    boot = browser.post("/api/session", json={"token": "gridlink-dev-admin-token"})
    assert boot.status_code == 401


def test_signing_in_again_ends_the_browsers_previous_session(
    client: TestClient, browser: TestClient, demo: DemoData, db_session: Session
) -> None:
    set_password(client, demo, STREET_A)
    sign_in(browser, STREET_A)
    first = browser.cookies[COOKIE]
    sign_in(browser, STREET_A)
    assert browser.cookies[COOKIE] != first
    client.cookies.set(COOKIE, first)
    assert client.get("/api/me").status_code == 401
    reasons = db_session.scalars(select(ConsoleSession.end_reason)).all()
    assert sorted(reasons, key=lambda r: r or "") == [None, "signed out"]


def test_https_makes_the_cookie_secure(
    settings: Settings, clock: FrozenClock, demo: DemoData
) -> None:
    secure = settings.model_copy(update={"https": True})
    app = create_app(settings=secure, clock=clock)
    with TestClient(app, base_url="https://testserver") as browser:
        resp = browser.post("/api/session", json={"token": demo.tokens[STREET_A]})
        cookie = resp.headers["set-cookie"]
        assert cookie.startswith("__Host-gridlink_session=") and "Secure" in cookie
        assert browser.get("/api/me").status_code == 200
    app.state.engine.dispose()


def test_a_bearer_token_has_no_session(client: TestClient, demo: DemoData) -> None:
    assert client.get("/api/session").status_code == 401
    resp = client.get("/api/session", headers=bearer(demo, STREET_A))
    assert resp.status_code == 403 and "not a console session" in resp.json()["message"]
