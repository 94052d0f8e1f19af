"""The access API under ``/api/v1/access``: people, vehicles, schedules, visitor passes and
face consents of a community; the list status; the access log, figures and audited captures."""

from __future__ import annotations

from fastapi import APIRouter

from hub.access.api import log, people

router = APIRouter()
router.include_router(people.router)
router.include_router(log.router)
