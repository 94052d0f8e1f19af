"""Reading an onboarding CSV into raw rows: encoding, header and shape, each problem with its
file, line and column. No meaning yet: ``validate`` parses the values."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from hub.onboarding.templates import TEMPLATES, Template


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input; ``line`` 0 is the file as a whole."""

    file: str
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: column {self.column}: {self.message}"
            if self.column
            else (f"{where}: {self.message}")
        )


@dataclass(frozen=True)
class Row:
    line: int  # first physical line of the record (a quoted cell may span lines)
    values: dict[str, str]  # every column of the template; "" when absent or empty


@dataclass
class Sheet:
    """One file's rows (those whose shape is sound) and the problems found reading it."""

    template: Template
    file: str
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _decode(data: bytes, file: str) -> tuple[str | None, Problem | None]:
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex()
        return None, Problem(file, line, None, f"not UTF-8 (byte 0x{byte}); save the file as UTF-8")


def read_sheet(kind: str, path: Path) -> Sheet:
    """Read ``path`` as the ``kind`` file (``OSError`` when it cannot be read)."""
    template = TEMPLATES[kind]
    sheet = Sheet(template, path.name)
    text, problem = _decode(path.read_bytes(), path.name)
    if problem is not None or text is None:
        sheet.problems.append(problem or Problem(path.name, 0, None, "unreadable"))
        return sheet
    return parse_sheet(template, path.name, text)


def parse_sheet(template: Template, file: str, text: str) -> Sheet:
    sheet = Sheet(template, file)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        sheet.problems.append(Problem(file, 1, None, f"bad CSV: {exc}"))
        return sheet
    if not header or not any(h.strip() for h in header):
        sheet.problems.append(Problem(file, 1, None, "no header row"))
        return sheet
    names = [h.strip() for h in header]
    known = set(template.names)
    for name in names:
        if name not in known:
            expected = ", ".join(template.names)
            sheet.problems.append(Problem(file, 1, name, f"unknown column (expected: {expected})"))
    for name in sorted({n for n in names if names.count(n) > 1}):
        sheet.problems.append(Problem(file, 1, name, "column appears twice in the header"))
    for name in template.required:
        if name not in names:
            sheet.problems.append(Problem(file, 1, name, "required column missing from header"))
    if sheet.problems:
        return sheet
    last = reader.line_num
    while True:
        start = last + 1
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            sheet.problems.append(Problem(file, start, None, f"bad CSV: {exc}"))
            return sheet
        if cells is None:
            return sheet
        last = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(cells) != len(names):
            sheet.problems.append(
                Problem(file, start, None, f"{len(cells)} fields, the header has {len(names)}")
            )
            continue
        values = dict.fromkeys(template.names, "")
        values.update((n, c.strip()) for n, c in zip(names, cells, strict=True))
        sheet.rows.append(Row(start, values))


def collect(directory: Path | None, named: dict[str, Path]) -> tuple[dict[str, Path], list[str]]:
    """The files to import, kind -> path, in load order: the known ``*.csv`` files of
    ``directory`` and the ``named`` ones (which win); an unknown ``.csv`` name is a problem.
    ``OSError`` when the directory cannot be listed."""
    found: dict[str, Path] = {}
    problems: list[str] = []
    if directory is not None:
        for path in sorted(directory.iterdir()):
            if path.suffix.lower() != ".csv" or path.name.startswith("."):
                continue
            kind = path.name[: -len(".csv")]
            if kind in TEMPLATES and path.name == TEMPLATES[kind].filename:
                found[kind] = path
            else:
                known = ", ".join(t.filename for t in TEMPLATES.values())
                problems.append(f"{path.name}: unknown file (the files are: {known})")
    for kind, path in named.items():
        if kind not in TEMPLATES:
            problems.append(f"--file {kind}=...: unknown kind (one of: {', '.join(TEMPLATES)})")
        else:
            found[kind] = path
    return {kind: found[kind] for kind in TEMPLATES if kind in found}, problems
