"""``client.organizations``: the organizations a user belongs to, and the current user."""

from __future__ import annotations

from ..models.organization import Organization, User
from ._base import Resource

__all__ = ["OrganizationsResource"]


class OrganizationsResource(Resource):
    """``client.organizations`` — which organizations the credential can act for.

    ::

        for org in await client.organizations.list():       # needs the user:read scope
            print(org.id, org.display_name, org.role)
        scoped = client.with_options(organization=org.id)  # sends X-Organization
    """

    __slots__ = ()

    async def list(self) -> list[Organization]:
        """``GET /users/organizations`` (OAuth only, scope ``user:read``)."""
        return await self._fetch("/users/organizations", list[Organization])

    async def current_user(self) -> User:
        """``GET /users``: the current user; ``organization`` is the one calls act for."""
        return await self._fetch("/users", User)
