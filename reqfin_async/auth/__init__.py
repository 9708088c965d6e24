"""Credentials: an API key, a bearer token, and the OAuth flows with their token cache."""

from .base import ApiKeyAuth, Auth, BearerAuth
from .oauth import (
    DEFAULT_AUDIENCE,
    DEFAULT_TOKEN_URL,
    ClientCredentialsAuth,
    OAuthAuth,
    OnRefresh,
    RefreshTokenAuth,
)
from .pkce import (
    DEFAULT_ISSUER,
    DEFAULT_SCOPES,
    AuthorizationRequest,
    PkcePair,
    authorization_url,
    exchange_code,
)

__all__ = [
    "Auth",
    "ApiKeyAuth",
    "BearerAuth",
    "OAuthAuth",
    "ClientCredentialsAuth",
    "RefreshTokenAuth",
    "OnRefresh",
    "PkcePair",
    "AuthorizationRequest",
    "authorization_url",
    "exchange_code",
    "DEFAULT_TOKEN_URL",
    "DEFAULT_AUDIENCE",
    "DEFAULT_ISSUER",
    "DEFAULT_SCOPES",
]
