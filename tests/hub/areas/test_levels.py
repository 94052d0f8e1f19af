"""Area levels: the level fits the code's length, the parent is the area one level up (a
city above its districts and counties when there is one)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from hub.areas import service
from hub.errors import InvalidInputError, NotFoundError
from hub.seed import DemoData


def test_each_level_fits_its_code_length(db_session: Session) -> None:
    county = service.create_area(
        db_session=db_session, code="330521", name="德清县", level="county"
    )
    assert (county.level, county.parent_code) == ("county", None)  # no city area (yet)
    township = service.create_area(
        db_session=db_session, code="330521100", name="武康镇", level="township"
    )
    assert (township.level, township.parent_code) == ("township", "330521")
    village = service.create_area(db_session=db_session, code="330521100201", name="五四村")
    assert (village.level, village.parent_code) == ("community", "330521100")
    city = service.create_area(db_session=db_session, code="3305", name="湖州市")
    assert (city.level, city.parent_code) == ("city", None)
    assert county.parent_code == "3305"  # the new city adopts its county
    district = service.create_area(db_session=db_session, code="330502", name="吴兴区")
    assert (district.level, district.parent_code) == ("district", "3305")
    with pytest.raises(InvalidInputError, match=r"level 'township' does not fit area code 330503 "
                       r"\(6 digits: district or county\)"):  # fmt: skip
        service.create_area(db_session=db_session, code="330503", name="x", level="township")
    with pytest.raises(InvalidInputError, match="must have 4, 6, 9 or 12 digits"):
        service.create_area(db_session=db_session, code="33050", name="x")
    with pytest.raises(NotFoundError, match="parent area 330503 of 330503001 not found"):
        service.create_area(db_session=db_session, code="330503001", name="x", level="street")


def test_the_api_takes_a_level_and_refuses_one_that_does_not_fit(
    client: TestClient, demo: DemoData
) -> None:
    admin = {"Authorization": f"Bearer {demo.tokens['district-admin']}"}
    made = client.post("/api/areas", headers=admin,
                       json={"code": "330102003", "name": "某镇", "level": "township"})  # fmt: skip
    assert made.status_code == 201 and made.json()["level"] == "township"
    assert made.json()["parent_code"] == "330102"
    wrong = client.post("/api/areas", headers=admin,
                        json={"code": "330102004", "name": "x", "level": "county"})  # fmt: skip
    assert wrong.status_code == 422 and wrong.json()["code"] == "level_mismatch"
    areas = client.get("/api/areas", headers=admin).json()
    assert "3301" not in {a["code"] for a in areas}  # the city is above a district's scope
    city = {"Authorization": f"Bearer {demo.tokens['city-operator']}"}
    codes = [a["code"] for a in client.get("/api/areas", headers=city).json()]
    assert codes[:2] == ["3301", "330102"]
    demo_district = next(a for a in client.get("/api/areas", headers=city).json()
                         if a["code"] == "330102")  # fmt: skip
    assert demo_district["parent_code"] == "3301" and demo_district["level"] == "district"
