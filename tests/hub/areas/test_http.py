"""Areas over HTTP: grids, workers and units inside the operator's area."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.seed import DemoData

STREET_A = "street-330102001-operator"


def auth(demo: DemoData, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[label]}"}


def test_grids_workers_units_crud_lite(client: TestClient, demo: DemoData) -> None:
    op = auth(demo, STREET_A)
    new = client.post("/api/grids", headers=op, json={"code": "33010200100103", "name": "g3"})
    assert new.status_code == 201
    outside = client.post("/api/grids", headers=op, json={"code": "33010200200103", "name": "x"})
    assert outside.status_code == 403
    worker = client.post(
        "/api/workers",
        headers=op,
        json={"id": "w-new", "name": "Zhang", "grid_codes": ["33010200100103"]},
    )
    assert worker.status_code == 201 and worker.json()["grid_codes"] == ["33010200100103"]
    both = client.put("/api/workers/w-new/grids/33010200100101", headers=op).json()
    assert both["grid_codes"] == ["33010200100101", "33010200100103"]
    renamed = client.patch("/api/workers/w-new", headers=op, json={"name": "Zhang Wei"})
    assert renamed.json()["name"] == "Zhang Wei"
    assert (
        client.post("/api/workers", headers=op, json={"id": "w-new", "name": "dup"}).status_code
        == 409
    )
    cats = client.get("/api/categories", headers=op).json()
    assert {c["code"] for c in cats} >= {"garbage", "road_damage"}
    units = client.get("/api/units", headers=op).json()
    assert any(u["categories"] == [None] for u in units)
    office = next(u for u in units if u["name"] == "Qinghefang Community office")
    added = client.post(
        f"/api/units/{office['id']}/responsibilities",
        headers=op,
        json={"area_code": "330102001001", "category_code": "street_light"},
    )
    assert added.status_code == 201 and added.json()["categories"] == [None, "street_light"]
    unknown = client.post(
        f"/api/units/{office['id']}/responsibilities",
        headers=op,
        json={"area_code": "330102001001", "category_code": "nope"},
    )
    assert unknown.status_code == 404
