"""The cases API: case queries and intake, one route per workflow action, categories and the
responsibilities that route cases to units."""

from __future__ import annotations

from fastapi import APIRouter

from hub.cases.api import (
    actions,
    categories,
    hotline,
    queries,
    responsibilities,
    supervisions,
    tasks,
)

router = APIRouter()
router.include_router(queries.router)
router.include_router(actions.router)
router.include_router(categories.router)
router.include_router(responsibilities.router)
router.include_router(hotline.router)
router.include_router(supervisions.router)
router.include_router(tasks.router)
