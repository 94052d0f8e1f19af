"""TEMPORARY, until the hub/cases refactor is merged: the old import path of the request and auth
dependencies, kept only for hub/cases and hub/areas (which import ``hub.api.deps`` today, an
upward import the layers contract reports). Delete this file at the merge; the new homes are
``hub.deps`` (SessionDep, SettingsDep, ClockDep), ``hub.auth.deps`` (CurrentUser, AdminUser) and
``hub.auth.service`` (require_roles)."""

from hub.auth.deps import AdminUser, CurrentUser
from hub.auth.service import require_roles
from hub.deps import ClockDep, SessionDep, SettingsDep

__all__ = ["AdminUser", "ClockDep", "CurrentUser", "SessionDep", "SettingsDep", "require_roles"]
