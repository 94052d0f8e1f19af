"""The bodies of ``gridlink hub import`` and ``export``; ``hub/cli.py`` declares the commands
(options, settings, the schema check) and calls these with a session factory.

Operator mistakes raise ``OnboardingError`` (one line, exit 1); bad rows are printed one per
line, and the command exits 1 with nothing written.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import Clock
from hub.onboarding import boundaries as geo
from hub.onboarding import flows
from hub.onboarding.export import ExportError, export
from hub.onboarding.rows import collect
from hub.onboarding.templates import TEMPLATES


class OnboardingError(Exception):
    """An operator mistake: missing directory, unreadable file, a tokens file that exists."""


class RichProgress:
    """``validate.Progress`` as rich bars: one per phase (validating, loading)."""

    def __init__(self, console: Console) -> None:
        self.bar = Progress(
            TextColumn("{task.description:>10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.bar.stop()

    def start(self, label: str, total: int) -> None:
        self.task = self.bar.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None and n:
            self.bar.advance(self.task, n)


def parse_file_options(options: list[str]) -> dict[str, Path]:
    named: dict[str, Path] = {}
    for option in options:
        kind, sep, path = option.partition("=")
        if not sep or not kind or not path:
            raise OnboardingError(f"--file {option!r}: expected KIND=PATH, e.g. grids=grids.csv")
        named[kind.strip()] = Path(path)
    return named


def _open_tokens_file(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise OnboardingError(
            f"{path} exists: the tokens file is never overwritten; name a new file"
        ) from None
    except OSError as exc:
        raise OnboardingError(f"cannot create the tokens file {path}: {exc.strerror}") from None


def import_files(
    factory: sessionmaker[Session],
    *,
    directory: Path | None,
    files: list[str],
    tokens_out: Path | None,
    check_only: bool,
    show_errors: int,
    clock: Clock,
    console: Console,
    errors: Console,
) -> int:
    """Import the files; returns the exit status (1: problems were listed, nothing written)."""
    if directory is None and not files:
        raise OnboardingError("name a directory of CSV files, or files with --file KIND=PATH")
    if directory is not None and not directory.is_dir():
        raise OnboardingError(f"{directory}: no such directory")
    try:
        named = parse_file_options(files)
        shapes = named.pop("boundaries", None)
        if shapes is None and directory is not None and (directory / geo.FILENAME).is_file():
            shapes = directory / geo.FILENAME
        paths, unknown = collect(directory, named)
        for path in [*paths.values(), *([shapes] if shapes is not None else [])]:
            if not path.exists():
                raise OnboardingError(f"{path}: no such file")
            if not path.is_file():
                raise OnboardingError(f"{path}: not a file")
        sheets = flows.read_sheets(paths)
        shaped = geo.read(shapes) if shapes is not None else geo.Read()
    except OSError as exc:
        raise OnboardingError(f"{exc.filename}: cannot read: {exc.strerror}") from None
    if not paths and not unknown and shapes is None:
        known = ", ".join([*(t.filename for t in TEMPLATES.values()), geo.FILENAME])
        raise OnboardingError(f"{directory}: none of the files {known}")
    with factory() as db_session:
        with RichProgress(console) as progress:
            prepared = flows.prepare(db_session=db_session, sheets=sheets, progress=progress)
        problems = [*unknown, *map(str, prepared.problems), *shaped.problems]
        if problems:
            return _list_problems(errors, problems, show_errors)
        new = prepared.new_accounts
        if new and not check_only and tokens_out is None:
            raise OnboardingError(
                f"accounts.csv creates {len(new)} account(s) ({', '.join(new[:3])}"
                f"{', ...' if len(new) > 3 else ''}): name a file for their tokens with "
                "--tokens-out (created 0600, never overwritten)"
            )
        fd = _open_tokens_file(tokens_out) if new and not check_only and tokens_out else None
        try:
            with RichProgress(console) as progress:
                result = prepared.load(db_session=db_session, clock=clock, progress=progress)
            shape_counts, problems = geo.apply(
                db_session=db_session, items=shaped.items, actor=f"import:{_user()}", at=clock.now()
            )
            if problems:  # an unknown grid, an overlap: found only against the loaded rows
                db_session.rollback()
                if fd is not None and tokens_out is not None:
                    tokens_out.unlink(missing_ok=True)
                return _list_problems(errors, problems, show_errors)
            if check_only:
                db_session.rollback()
            elif fd is not None:
                os.write(fd, (json.dumps(result.tokens, indent=2, ensure_ascii=False) + "\n")
                         .encode())  # fmt: skip
                os.fsync(fd)
            if not check_only:
                db_session.commit()
        except IntegrityError as exc:
            db_session.rollback()
            if fd is not None and tokens_out is not None:
                tokens_out.unlink(missing_ok=True)
            if not _collided(exc):
                raise
            raise OnboardingError(
                "the database changed during the import; run it again (nothing was written)"
            ) from None
        except BaseException:
            db_session.rollback()
            if fd is not None and tokens_out is not None:
                tokens_out.unlink(missing_ok=True)  # its tokens were never committed
            raise
        finally:
            if fd is not None:
                os.close(fd)
    verb = "would be (--check: nothing written)" if check_only else ""
    for kind, counts in result.counts.items():
        console.print(f"{TEMPLATES[kind].filename}: {counts} {verb}".rstrip(), markup=False)
    if shapes is not None:
        console.print(f"{geo.FILENAME}: {shape_counts} {verb}".rstrip(), markup=False)
    if fd is not None:
        console.print(
            f"tokens of {len(result.tokens)} new account(s) written to {tokens_out} (0600); "
            "hand them over and delete the file",
            markup=False,
        )
    elif tokens_out is not None and not check_only:
        console.print(f"no new accounts: {tokens_out} not written", markup=False)
    return 0


def _user() -> str:
    """Who runs the import (the proposer of its boundary changes: docs/onboarding.md)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        return f"uid-{os.getuid()}"


def _list_problems(errors: Console, problems: list[str], show_errors: int) -> int:
    for line in problems[:show_errors]:
        errors.print(line, markup=False, highlight=False, soft_wrap=True)
    more = len(problems) - show_errors
    tail = f" ({more} more not shown)" if more > 0 else ""
    errors.print(f"{len(problems)} problems{tail}: nothing was written", markup=False)
    return 1


def _collided(exc: IntegrityError) -> bool:
    """A unique or foreign key violation: a row the API wrote or removed after the files were
    validated against the database (any other refusal is reported as it is)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)  # PostgreSQL (psycopg)
    if sqlstate is not None:
        return sqlstate in ("23505", "23503")
    return str(exc.orig).startswith(("UNIQUE constraint failed", "FOREIGN KEY constraint failed"))


def export_files(
    factory: sessionmaker[Session], *, directory: Path, bom: bool, console: Console
) -> None:
    if (directory / geo.FILENAME).exists():
        raise OnboardingError(f"{directory / geo.FILENAME} exists: export into an empty directory")
    with factory() as db_session:
        try:
            written = export(db_session=db_session, directory=directory, bom=bom)
            shapes = geo.export(db_session=db_session, directory=directory)
        except (FileExistsError, ExportError) as exc:
            raise OnboardingError(str(exc)) from None
        except OSError as exc:
            raise OnboardingError(f"{exc.filename or directory}: {exc.strerror}") from None
    for kind, count in written.items():
        console.print(f"{directory / TEMPLATES[kind].filename}: {count} rows", markup=False)
    if shapes:
        console.print(f"{directory / geo.FILENAME}: {shapes} boundaries", markup=False)
