"""The dashboard's tables as files: CSV (UTF-8 with a byte-order mark, so Excel reads the
Chinese right) and XLSX (openpyxl). Headers are Chinese with the English beside them:
``排名 (Rank)``. Text that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``
first) is written as text: a leading ``'`` in CSV, a string cell in XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from hub.spreadsheet import safe_text

Kind = Literal["text", "int", "float", "rate"]
MIME = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    kind: Kind = "int"

    @property
    def header(self) -> str:
        return f"{self.zh} ({self.en})"


@dataclass(frozen=True)
class Table:
    name: str  # file name stem and sheet title
    zh: str
    columns: tuple[Column, ...]


def _figure_columns(first: tuple[Column, ...]) -> tuple[Column, ...]:
    return first + (
        Column("total", "案件数", "Cases"),
        Column("open", "未结案", "Open"),
        Column("overdue", "超期", "Overdue"),
        Column("closed", "已结案", "Closed"),
        Column("closed_on_time", "按期结案", "Closed on time"),
        Column("closed_late", "超期结案", "Closed late"),
        Column("on_time_rate", "按期结案率", "On-time rate", "rate"),
        Column("rework_count", "返工", "Rework"),
        Column("escalations", "升级", "Escalations"),
        Column("satisfaction", "满意度", "Satisfaction", "float"),
        Column("rated", "评价数", "Rated"),
    )


WORKERS = Table(
    "workers",
    "网格员月度考核",
    (
        Column("rank", "排名", "Rank"),
        Column("worker_id", "网格员编号", "Worker ID", "text"),
        Column("name", "姓名", "Name", "text"),
        Column("reports", "上报数", "Reports"),
        Column("cases", "立案数", "Cases filed"),
        Column("verifications", "核查数", "Verifications"),
        Column("online_h", "在线时长（小时）", "Online hours", "float"),
    ),
)
UNITS = Table(
    "units",
    "处置单位绩效",
    _figure_columns(
        (
            Column("code", "单位编号", "Unit ID", "text"),
            Column("name", "单位名称", "Unit", "text"),
            Column("level", "所属区域编码", "Area code", "text"),
        )
    )
    + (Column("supervisions", "督办", "Supervisions"), Column("co_handled", "协办", "Co-handled")),
)
AREAS = Table(
    "board",
    "区域案件统计",
    _figure_columns(
        (
            Column("code", "区域编码", "Area code", "text"),
            Column("name", "区域名称", "Area", "text"),
            Column("level", "层级", "Level", "text"),
        )
    ),
)
TABLES = {t.name: t for t in (WORKERS, UNITS, AREAS)}


def to_csv(table: Table, rows: Iterable[Mapping[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header for c in table.columns])
    for row in rows:
        line = []
        for c in table.columns:
            value = row.get(c.key)
            line.append(safe_text(value) if c.kind == "text" else "" if value is None else value)
        writer.writerow(line)
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def to_xlsx(table: Table, rows: Iterable[Mapping[str, Any]], *, title: str) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(table.zh)
    sheet.freeze_panes = "A3"
    for index, column in enumerate(table.columns):
        letter = get_column_letter(index + 1)
        sheet.column_dimensions[letter].width = max(12, len(column.header) * 1.6)
    heading = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", title))
    heading.font = Font(bold=True, size=13)
    sheet.append([heading])
    header = []
    for column in table.columns:
        cell = WriteOnlyCell(sheet, value=column.header)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for row in rows:
        cells = []
        for c in table.columns:
            value = row.get(c.key)
            if c.kind == "text" and value is not None:
                # control characters are not allowed in a sheet (openpyxl refuses the cell)
                value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", str(value))
            cell = WriteOnlyCell(sheet, value=value)
            if c.kind == "text" and value is not None:
                cell.data_type = "s"  # never a formula, whatever the text starts with
            elif c.kind == "rate":
                cell.number_format = "0.0%"
            elif c.kind == "float":
                cell.number_format = "0.00"
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
