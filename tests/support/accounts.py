"""Console accounts for browser tests: passwords set the way `gridlink hub passwd` sets them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from hub.auth import passwords
from hub.clock import Clock
from hub.settings import Settings


def give_passwords(
    db_session: Session, settings: Settings, clock: Clock, password: str, *accounts: str
) -> None:
    """Give each of ``accounts`` (live token names) ``password``; commits."""
    for account in accounts:
        passwords.set_password(
            db_session=db_session,
            account=account,
            password=password,
            by="test",
            scope_code=None,
            settings=settings,
            clock=clock,
        )
    db_session.commit()
