"""The figures' and exports' edges (a review's findings): times outside 2000-2099 are a 422
(never a ``datetime`` overflow and a 500), a unit token reads no figures, a control character
in a name does not break the XLSX export, a formula hidden behind a space stays text."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from fastapi.testclient import TestClient

from hub.seed import DemoData

STREET_A = "street-330102001-operator"
UNIT = "unit-330102001001-office"


def _as(demo: DemoData, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[label]}"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/stats/board?month=9999-12",
        "/api/stats/units?month=9999-12",
        "/api/stats/workers?month=9999-12",
        "/api/stats/workers/export?month=9999-12&format=csv",
        "/api/stats/board?month=2026-13",
        "/api/stats/board?since=0001-01-01T00:00:00%2B14:00",
        "/api/stats/board?since=9999-12-31T23:59:59-14:00",
        "/api/stats/units?until=0001-01-01T00:00:00%2B14:00",
        "/api/stats/areas/330102001?since=0001-01-01T00:00:00%2B14:00",
        "/api/v1/access/log?since=0001-01-01T00:00:00%2B14:00",
        "/api/v1/access/communities/330102001001/figures?until=9999-12-31T23:59:59-14:00",
        "/api/workers/w00100101/track?day=0001-01-01",
        "/api/workers/w00100101/track?day=9999-12-31",
    ],
)
def test_times_out_of_range_are_a_422(client: TestClient, demo: DemoData, path: str) -> None:
    resp = client.get(path, headers=_as(demo, STREET_A))
    assert resp.status_code == 422, (path, resp.status_code, resp.text)
    assert resp.json()["code"] == "invalid_input"


@pytest.mark.parametrize(
    "path",
    [
        "/api/stats/areas/330102001001",
        "/api/stats/units?month=2026-01",
        "/api/stats/workers?month=2026-01",
    ],
)
def test_a_unit_reads_no_figures(client: TestClient, demo: DemoData, path: str) -> None:
    assert client.get(path, headers=_as(demo, UNIT)).status_code == 403
    assert client.get(path, headers=_as(demo, STREET_A)).status_code == 200


def test_a_control_character_in_a_name_does_not_break_the_xlsx(
    client: TestClient, demo: DemoData
) -> None:
    admin = _as(demo, STREET_A)  # an operator may rename its workers
    resp = client.patch("/api/workers/w00100101", json={"name": "bell\u0007name"}, headers=admin)
    assert resp.status_code == 200, resp.text
    resp = client.patch("/api/workers/w00100102", json={"name": " =1+1"}, headers=admin)
    assert resp.status_code == 200, resp.text
    got = client.get(
        "/api/stats/workers/export?month=2026-01&format=xlsx", headers=_as(demo, STREET_A)
    )
    assert got.status_code == 200, got.text
    sheet = openpyxl.load_workbook(io.BytesIO(got.content)).active
    names = {c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, str)}
    assert "bell\ufffdname" in names and " =1+1" in names
    text = client.get(
        "/api/stats/workers/export?month=2026-01&format=csv", headers=_as(demo, STREET_A)
    ).content.decode("utf-8-sig")
    cells = {cell for row in csv.reader(io.StringIO(text)) for cell in row}
    assert "' =1+1" in cells and " =1+1" not in cells
