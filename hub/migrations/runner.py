"""Run the hub's Alembic migrations programmatically (CLI, tests, app start-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

HUB_DIR = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    config = Config(str(HUB_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(HUB_DIR / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
