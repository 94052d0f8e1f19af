"""Categories API: the catalogue every case is filed under, with its deadline."""

from __future__ import annotations

from fastapi import APIRouter

from hub.auth.deps import AdminUser, CurrentUser
from hub.cases import categories
from hub.cases.schemas import CategoryRead, CategoryWrite
from hub.deps import SessionDep

router = APIRouter(prefix="/api", tags=["cases"])


@router.get("/categories", response_model=list[CategoryRead])
def list_categories(db_session: SessionDep, user: CurrentUser) -> list[CategoryRead]:
    rows = categories.list_categories(db_session=db_session)
    return [CategoryRead.model_validate(c) for c in rows]


@router.put("/categories/{code}", response_model=CategoryRead)
def put_category(
    code: str, body: CategoryWrite, db_session: SessionDep, user: AdminUser
) -> CategoryRead:
    row = categories.upsert_category(db_session=db_session, code=code, **body.model_dump())
    db_session.commit()
    return CategoryRead.model_validate(row)
