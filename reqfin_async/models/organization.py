"""The current user and the organizations they can act for.

The API spells the names ``firstname`` and ``lastname`` here, in lower case.
"""

from __future__ import annotations

from ._base import ResponseStruct

__all__ = ["Organization", "OrganizationOwner", "User"]


class OrganizationOwner(ResponseStruct, kw_only=True):
    """The user who owns an organization.

    Example::

        org.owner.email
        org.owner.firstname
    """

    id: str | None = None
    email: str | None = None
    firstname: str | None = None
    lastname: str | None = None


class Organization(ResponseStruct, kw_only=True):
    """An organization from ``GET /users/organizations``; its ``id`` goes in ``X-Organization``.

    Example::

        orgs = decode(body, list[Organization])
        client = RequestFinanceClient(auth=auth, organization=orgs[0].id)
    """

    id: str
    name: str | None = None
    display_name: str | None = None
    role: str | None = None
    owner: OrganizationOwner | None = None


class User(ResponseStruct, kw_only=True):
    """The current user (``GET /users``); ``organization`` is the organization acted for.

    Example::

        me = decode(body, User)
        me.organization  # an organization id, or None
    """

    id: str
    email: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    organization: str | None = None
    username: str | None = None
