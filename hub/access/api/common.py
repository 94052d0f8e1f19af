"""What both access routers share: the prefix, the roles, the community path parameter."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from hub.auth.models import Role
from hub.auth.service import Principal, require_roles
from hub.errors import NotFoundError

PREFIX = "/api/v1/access"
CommunityPath = Annotated[str, Path(pattern=r"^\d{12}$", description="12-digit community code")]


def require_community_access(user: Principal, community: str) -> None:
    """Operators and admins of an area containing the community; others see nothing."""
    require_roles(user, Role.admin, Role.operator)
    if not user.covers(community):
        raise NotFoundError(f"community {community} not found", code="community_not_found")
