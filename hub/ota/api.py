"""Firmware bundles and rollouts (docs/ota.md, "API"): admins write, operators read. A scoped
admin or operator sees and acts on only the rollouts whose devices are all in its area."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from hub.auth.deps import AdminUser, CurrentUser
from hub.auth.models import Role
from hub.auth.service import Principal, require_roles
from hub.deps import ClockDep, SessionDep, SettingsDep
from hub.media.store import FileBlobStore
from hub.ota import rollouts, service
from hub.ota.errors import BundleRejectedError, OtaPermissionError
from hub.ota.models import Bundle, Rollout
from hub.ota.schemas import (
    STATE_NAMES,
    BundleOut,
    Excluded,
    RolloutCreate,
    RolloutDeviceOut,
    RolloutOut,
)
from protocol import bundle

router = APIRouter(prefix="/api/ota", tags=["ota"])

MAX_UPLOAD = bundle.MAX_BUNDLE_BYTES + 65536
BUNDLE_BODY = {
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    "required": True,
}


def rollout_out(db_session: Session, rollout: Rollout) -> RolloutOut:
    rows = service.entries(db_session=db_session, rollout_id=rollout.id)
    row = service.get_bundle(db_session=db_session, bundle_id=rollout.bundle_id)
    counts = Counter(e.state for e in rows)
    return RolloutOut(
        id=rollout.id,
        bundle=rollout.bundle_id,
        version=row.version,
        state=rollout.state,  # type: ignore[arg-type]
        stage=rollout.stage,
        stages=rollout.stages,
        auto_advance=rollout.auto_advance,
        paused_reason=rollout.paused_reason,
        total=len(rows),
        counts={s: counts.get(s, 0) for s in STATE_NAMES},
        devices=[RolloutDeviceOut.model_validate(e) for e in rows],
        excluded=[Excluded(**e) for e in rollout.excluded],
        created_at=rollout.created_at,
    )


async def _read_limited(request: Request) -> bytes:
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > MAX_UPLOAD:
            raise BundleRejectedError(
                f"too_large: a bundle file is at most {MAX_UPLOAD} bytes", code="too_large"
            )
    return bytes(data)


@router.post(
    "/bundles",
    response_model=BundleOut,
    status_code=201,
    openapi_extra={"requestBody": BUNDLE_BODY},
    responses={200: {"model": BundleOut, "description": "the same bundle was uploaded before"}},
)
async def upload_bundle(
    request: Request,
    response: Response,
    db_session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: AdminUser,
) -> BundleOut:
    """Upload a ``.glb`` bundle file (the body, ``application/octet-stream``). The hub checks
    the tar layout, the ops key's signature, every file's size and SHA-256 and ``min_hub``;
    422 names what is wrong (``code``: the device's refusal reason, e.g. ``bad_file``). The
    same bundle again answers 200 with the same body; 409 when OTA is not configured."""
    service.ops_public_key(settings)  # 409 before reading a large body
    data = await _read_limited(request)

    def keep() -> tuple[Bundle, bool]:  # tar parsing, hashing, file and DB writes
        out = service.upload_bundle(
            db_session=db_session,
            store=FileBlobStore(settings.ota_dir),
            data=data,
            settings=settings,
            clock=clock,
            uploaded_by=user.actor,
        )
        db_session.commit()
        return out

    row, created = await run_in_threadpool(keep)  # never on the event loop
    if not created:
        response.status_code = 200
    return BundleOut.model_validate(row)


DISTRICT_CODE_LEN = 6  # area codes: city 4, district 6, street 9, community 12 digits


def _district_wide(user: Principal) -> None:
    """Bundles are the whole fleet's: an admin or operator of a district or a city (or unscoped)
    reads them; a street's or community's rolls out a bundle id the ops team gives it."""
    require_roles(user, Role.admin, Role.operator)
    if user.scope_code is not None and len(user.scope_code) > DISTRICT_CODE_LEN:
        raise OtaPermissionError("firmware bundles are read district-wide (a district token)")


@router.get("/bundles", response_model=list[BundleOut])
def list_bundles(db_session: SessionDep, user: CurrentUser) -> list[BundleOut]:
    _district_wide(user)
    return [BundleOut.model_validate(b) for b in service.list_bundles(db_session=db_session)]


@router.get("/bundles/{bundle_id}", response_model=BundleOut)
def get_bundle(bundle_id: str, db_session: SessionDep, user: CurrentUser) -> BundleOut:
    _district_wide(user)
    return BundleOut.model_validate(service.get_bundle(db_session=db_session, bundle_id=bundle_id))


@router.post("/rollouts", response_model=RolloutOut, status_code=201)
def create_rollout(
    body: RolloutCreate, db_session: SessionDep, clock: ClockDep, user: AdminUser
) -> RolloutOut:
    """Start a staged rollout: stage k is the first ceil(N * stages[k] / 100) target devices
    in a fixed order; the first stage's devices get their ``ota`` command now. A scoped
    admin reaches only the devices of its area."""
    rollout = service.create_rollout(
        db_session=db_session,
        clock=clock,
        bundle_id=body.bundle,
        target=body.target.model_dump(),
        stages=body.stages,
        auto_advance=body.auto_advance,
        advance_success_percent=body.advance_success_percent,
        pause_failure_percent=body.pause_failure_percent,
        pause_min_done=body.pause_min_done,
        device_timeout_s=body.device_timeout_s,
        created_by=user.actor,
        scope=user.scope_code,
    )
    rollouts.start(db_session=db_session, rollout=rollout, clock=clock)
    rollouts.evaluate(db_session=db_session, rollout=rollout, clock=clock)
    db_session.commit()
    return rollout_out(db_session, rollout)


@router.get("/rollouts", response_model=list[RolloutOut])
def list_rollouts(
    db_session: SessionDep, user: CurrentUser, limit: int = Query(100, ge=1, le=1000)
) -> list[RolloutOut]:
    require_roles(user, Role.admin, Role.operator)
    rows = service.list_rollouts(db_session=db_session, limit=limit, scope=user.scope_code)
    return [rollout_out(db_session, r) for r in rows]


@router.get("/rollouts/{rollout_id}", response_model=RolloutOut)
def get_rollout(rollout_id: str, db_session: SessionDep, user: CurrentUser) -> RolloutOut:
    require_roles(user, Role.admin, Role.operator)
    rollout = service.get_rollout(db_session=db_session, rollout_id=rollout_id)
    service.check_scope(db_session=db_session, rollout=rollout, scope=user.scope_code)
    return rollout_out(db_session, rollout)


def _for_action(db_session: Session, rollout_id: str, user: Principal) -> Rollout:
    """The rollout, locked (``rollouts.lock``), when the admin's area holds all its devices."""
    rollout = rollouts.locked(db_session=db_session, rollout_id=rollout_id)
    service.check_scope(db_session=db_session, rollout=rollout, scope=user.scope_code)
    return rollout


@router.post("/rollouts/{rollout_id}/advance", response_model=RolloutOut)
def advance(
    rollout_id: str,
    db_session: SessionDep,
    clock: ClockDep,
    user: AdminUser,
    force: bool = False,
) -> RolloutOut:
    """Move to the next stage (409 while the current one is unfinished, unless ``force``, and
    at the last stage)."""
    rollout = _for_action(db_session, rollout_id, user)
    rollouts.advance(db_session=db_session, rollout=rollout, clock=clock, force=force)
    db_session.commit()
    return rollout_out(db_session, rollout)


@router.post("/rollouts/{rollout_id}/pause", response_model=RolloutOut)
def pause(rollout_id: str, db_session: SessionDep, clock: ClockDep, user: AdminUser) -> RolloutOut:
    rollout = _for_action(db_session, rollout_id, user)
    rollouts.pause(db_session=db_session, rollout=rollout, clock=clock, by=user.actor)
    db_session.commit()
    return rollout_out(db_session, rollout)


@router.post("/rollouts/{rollout_id}/resume", response_model=RolloutOut)
def resume(rollout_id: str, db_session: SessionDep, clock: ClockDep, user: AdminUser) -> RolloutOut:
    rollout = _for_action(db_session, rollout_id, user)
    rollouts.resume(db_session=db_session, rollout=rollout, clock=clock)
    db_session.commit()
    return rollout_out(db_session, rollout)


@router.post("/rollouts/{rollout_id}/cancel", response_model=RolloutOut)
def cancel(rollout_id: str, db_session: SessionDep, clock: ClockDep, user: AdminUser) -> RolloutOut:
    """Stop: devices not told yet leave the rollout; devices mid-update finish on their own
    and are still recorded."""
    rollout = _for_action(db_session, rollout_id, user)
    rollouts.cancel(db_session=db_session, rollout=rollout, clock=clock)
    db_session.commit()
    return rollout_out(db_session, rollout)
