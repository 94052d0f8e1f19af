"""Cases API: one ``POST /api/cases/{case_id}/<action>`` per row of the action table.

Every route loads the case in the caller's scope (404 outside it), checks the row's roles, runs
the row's action, commits and answers the case detail. Each route is registered with its own
typed body parameter, so the OpenAPI lists each action with its own request body.
"""

from __future__ import annotations

import inspect

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.orm import Session

from hub.auth.deps import CurrentUser
from hub.auth.service import Principal, require_roles
from hub.bounds import RowId
from hub.cases.detail import case_detail
from hub.cases.endpoints import (
    ACTION_ENDPOINTS,
    CO_HANDLER_ACTIONS,
    ActionContext,
    ActionEndpoint,
)
from hub.cases.queries import get_case
from hub.cases.schemas import CaseDetail
from hub.cases.scope import leads
from hub.clock import Clock
from hub.deps import ClockDep, SessionDep, SettingsDep
from hub.errors import PermissionDeniedError
from hub.settings import Settings

router = APIRouter(prefix="/api/cases", tags=["case actions"])

_P = inspect.Parameter


class ActionRoute:
    # No docstring: FastAPI would publish it as every action's description.

    def __init__(self, row: ActionEndpoint) -> None:
        self.row = row
        params = [
            _P("case_id", _P.POSITIONAL_OR_KEYWORD, annotation=RowId),
            _P("db_session", _P.KEYWORD_ONLY, annotation=SessionDep),
            _P("user", _P.KEYWORD_ONLY, annotation=CurrentUser),
            _P("clock", _P.KEYWORD_ONLY, annotation=ClockDep),
            _P("settings", _P.KEYWORD_ONLY, annotation=SettingsDep),
        ]
        if row.body is not None:
            params.insert(1, _P("body", _P.KEYWORD_ONLY, annotation=row.body))
        self.__signature__ = inspect.Signature(params, return_annotation=CaseDetail)

    def __call__(
        self,
        case_id: int,
        *,
        db_session: Session,
        user: Principal,
        clock: Clock,
        settings: Settings,
        body: BaseModel | None = None,
    ) -> CaseDetail:
        case = get_case(db_session=db_session, case_id=case_id, principal=user)
        require_roles(user, *self.row.roles)
        if not leads(user, case) and self.row.action not in CO_HANDLER_ACTIONS:
            raise PermissionDeniedError(
                f"your unit co-handles case {case.id}; {case.unit_id} leads it: give your part "
                f"with POST /api/cases/{case.id}/co-feedback"
            )
        ctx = ActionContext(db_session, user, clock.now(), clock, settings)
        self.row.run(ctx, case, body)
        db_session.commit()
        return case_detail(
            db_session=db_session, case=case, now=clock.now(), principal=user, settings=settings
        )


def _add_routes() -> None:
    for row in ACTION_ENDPOINTS:
        route = ActionRoute(row)
        for path in (row.path, *row.aliases):
            router.add_api_route(
                f"/{{case_id}}/{path}",
                route,
                methods=["POST"],
                response_model=CaseDetail,
                name=row.name,
                summary=row.summary,
                include_in_schema=path == row.path,  # aliases are older, hidden paths
            )


_add_routes()
