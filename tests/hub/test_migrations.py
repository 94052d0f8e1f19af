"""The single initial revision matches every model, and upgrades / downgrades cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from hub.db import make_engine
from hub.migrations.runner import alembic_config, downgrade, upgrade


def test_one_initial_revision_matching_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    config = alembic_config(url)
    heads = ScriptDirectory.from_config(config).get_heads()
    assert heads == ["0001_initial"]
    upgrade(url)
    # Fails when a model changed without a new revision (`gridlink hub new-migration`).
    command.check(config)
    downgrade(url)
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
