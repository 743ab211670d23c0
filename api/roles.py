"""Role checks for the registry routes: who may do what, said in the message when she may not."""

from __future__ import annotations

from sqlalchemy import Select, false, select

from api.access import Scope
from api.errors import PermissionDenied
from store.models import Community, Role

# What the whole registry means to each role, for the messages of PermissionDenied.
_WHY = {
    Role.analyst: "analysts see readings and alert outcomes by pseudonym only (GET /api/v1/exports)",
    Role.cadre: "cadres look after households; their community's secretary sets the registry up",
    Role.property_manager: "property managers link meters (PUT /api/v1/households/{id}/meter, "
                           "POST /api/v1/meter-links/import) and see meter health",
}


def require(scope: Scope, *roles: Role, doing: str) -> None:
    """PermissionDenied unless the user has one of ``roles``; the message names them."""
    if scope.role in roles:
        return
    who = " or ".join(r.value for r in roles)
    why = _WHY.get(scope.role)
    raise PermissionDenied(
        f"{scope.user.name} has role {scope.role.value}, which may not {doing}; ask a user with role {who}"
        + (f" ({why})" if why else "")
    )


def communities(scope: Scope) -> Select | None:
    """A query of the community ids the user belongs to; None: every community (admins, global analysts)."""
    if scope.community_id is not None:
        return select(Community.id).where(Community.id == scope.community_id)
    if scope.role in (Role.admin, Role.analyst):
        return None
    return select(Community.id).where(false())  # a user of no community belongs nowhere
