"""The OAuth 2 side: ``GET /authorize`` and ``POST /oauth/token`` (RFC 6749, PKCE S256).

The sandbox approves every authorization at once (as the main user, or the
user named by ``login_hint``) and issues JWT-shaped tokens that only it
accepts. Refresh tokens rotate: each use returns a new one and kills the old::

    POST /oauth/token  grant_type=client_credentials&client_id=...&client_secret=...
                       &audience=accounts
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from typing import Any

import msgspec
from aiohttp import web
from yarl import URL

from .responses import OAuthError, json_response
from .services import SERVICES
from .state import AccessToken, AuthCode, RefreshToken, SandboxState, User

__all__ = ["AUDIENCE", "AUTH_CODE_LIFETIME_S", "oauth_routes", "pkce_challenge"]

AUDIENCE = "accounts"
AUTH_CODE_LIFETIME_S = 600.0
DEFAULT_AUTHORIZE_SCOPE = "openid profile email"
DEFAULT_CLIENT_CREDENTIALS_SCOPE = "openid profile email user:read"
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Signs the sandbox's JWT-shaped tokens; only the stored token table makes one valid.
_SIGNING_KEY = secrets.token_bytes(32)


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of ``verifier``: base64url(sha256), without padding."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def _b64(data: bytes) -> str:
    """base64url without padding, as JWTs and PKCE write it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jwt(claims: dict[str, Any]) -> str:
    signing_input = _b64(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64(msgspec.json.encode(claims))
    signature = hmac.new(_SIGNING_KEY, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


def _issuer(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}/"


def _issue(
    request: web.Request, user: User, client_id: str, scope: str, *, grant: str
) -> dict[str, Any]:
    """A token answer; a refresh token only with ``offline_access`` (never for clients)."""
    services = request.app[SERVICES]
    state, lifetime = services.state, services.config.token_lifetime_s
    now = int(time.time())
    scopes = frozenset(scope.split())
    access = _jwt(
        {
            "iss": _issuer(request),
            "sub": user.id if grant != "client_credentials" else f"{client_id}@clients",
            "aud": [AUDIENCE],
            "azp": client_id,
            "iat": now,
            "exp": now + lifetime,
            "scope": scope,
            "jti": secrets.token_hex(8),
            **({"gty": "client-credentials"} if grant == "client_credentials" else {}),
        }
    )
    state.access_tokens[access] = AccessToken(user.id, client_id, scopes, now + lifetime)
    answer: dict[str, Any] = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scope,
    }
    if grant != "client_credentials":
        if "offline_access" in scopes:
            refresh = secrets.token_urlsafe(32)
            state.refresh_tokens[refresh] = RefreshToken(user.id, client_id, scope)
            answer["refresh_token"] = refresh
        if "openid" in scopes:
            answer["id_token"] = _jwt(
                {
                    "iss": _issuer(request),
                    "sub": user.id,
                    "aud": client_id,
                    "iat": now,
                    "exp": now + lifetime,
                    "email": user.email,
                    "name": f"{user.firstname} {user.lastname}",
                }
            )
    return answer


async def _params(request: web.Request) -> dict[str, str]:
    """The token request's parameters, form-encoded (RFC 6749) or JSON."""
    if request.content_type == "application/json":
        try:
            body = msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            raise OAuthError(400, "invalid_request", "The body is not valid JSON") from None
        if not isinstance(body, dict):
            raise OAuthError(400, "invalid_request", "The body must be a JSON object")
        return {str(k): v for k, v in body.items() if isinstance(v, str)}
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _client(request: web.Request, params: dict[str, str], *, secret_required: bool) -> str:
    """The authenticated client id (body parameters or HTTP Basic), else ``invalid_client``."""
    client_id, secret = params.get("client_id"), params.get("client_secret")
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError(401, "invalid_client", "Malformed Basic credentials") from None
        client_id, _, secret = decoded.partition(":")
    config = request.app[SERVICES].config
    if client_id != config.client_id:
        raise OAuthError(401, "invalid_client", "Unknown client")
    if secret is None:
        if secret_required:
            raise OAuthError(401, "invalid_client", "client_secret is required")
    elif not hmac.compare_digest(secret.encode(), config.client_secret.encode()):
        raise OAuthError(401, "invalid_client", "Wrong client credentials")
    return client_id


def _client_credentials(request: web.Request, params: dict[str, str]) -> dict[str, Any]:
    client_id = _client(request, params, secret_required=True)
    if params.get("audience") != AUDIENCE:
        raise OAuthError(400, "invalid_request", f"audience must be {AUDIENCE}")
    scope = params.get("scope") or DEFAULT_CLIENT_CREDENTIALS_SCOPE
    state = request.app[SERVICES].state
    return _issue(request, state.main_user, client_id, scope, grant="client_credentials")


def _authorization_code(request: web.Request, params: dict[str, str]) -> dict[str, Any]:
    # A PKCE client may be public: its secret is checked only when sent.
    client_id = _client(request, params, secret_required=False)
    state = request.app[SERVICES].state
    raw_code = params.get("code")
    if not raw_code:
        raise OAuthError(400, "invalid_request", "code is required")
    code = state.auth_codes.pop(raw_code, None)  # single use, even when the exchange fails
    if code is None:
        raise OAuthError(400, "invalid_grant", "Invalid or already used authorization code")
    if code.expires_at <= time.time():
        raise OAuthError(400, "invalid_grant", "Authorization code expired")
    if code.client_id != client_id:
        raise OAuthError(400, "invalid_grant", "The code was issued to another client")
    if params.get("redirect_uri") != code.redirect_uri:
        raise OAuthError(400, "invalid_grant", "redirect_uri does not match the authorization")
    verifier = params.get("code_verifier")
    if verifier is None or _VERIFIER.fullmatch(verifier) is None:
        raise OAuthError(400, "invalid_grant", "A valid code_verifier is required")
    if not hmac.compare_digest(pkce_challenge(verifier), code.code_challenge):
        raise OAuthError(400, "invalid_grant", "Failed to verify code verifier")
    return _issue(request, state.users[code.user_id], client_id, code.scope, grant="code")


def _refresh(request: web.Request, params: dict[str, str]) -> dict[str, Any]:
    client_id = _client(request, params, secret_required=True)
    state = request.app[SERVICES].state
    raw = params.get("refresh_token")
    if not raw:
        raise OAuthError(400, "invalid_request", "refresh_token is required")
    grant = state.refresh_tokens.pop(raw, None)  # rotation: the old token dies here
    if grant is None or grant.client_id != client_id:
        raise OAuthError(400, "invalid_grant", "Unknown or already used refresh token")
    return _issue(request, state.users[grant.user_id], client_id, grant.scope, grant="refresh")


_GRANTS = {
    "client_credentials": _client_credentials,
    "authorization_code": _authorization_code,
    "refresh_token": _refresh,
}


async def token(request: web.Request) -> web.Response:
    """``POST /oauth/token``: the three grants the API's OAuth tenant serves."""
    params = await _params(request)
    grant = params.get("grant_type")
    if not grant:
        raise OAuthError(400, "invalid_request", "grant_type is required")
    issue = _GRANTS.get(grant)
    if issue is None:
        raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant type {grant}")
    return json_response(issue(request, params), headers=_NO_STORE)


def _authorizing_user(state: SandboxState, login_hint: str | None) -> User:
    if not login_hint:
        return state.main_user
    user = state.users_by_email.get(login_hint.lower())
    if user is None or user.api_key is None:
        raise OAuthError(400, "invalid_request", f"No sandbox user {login_hint}")
    return user


async def authorize(request: web.Request) -> web.Response:
    """``GET /authorize``: approve at once and redirect back with a code."""
    services = request.app[SERVICES]
    query = request.query
    if query.get("client_id") != services.config.client_id:
        raise OAuthError(400, "invalid_request", "Unknown client_id")
    redirect_uri = query.get("redirect_uri", "")
    target = URL(redirect_uri)
    if target.scheme not in ("http", "https") or not target.host:
        raise OAuthError(400, "invalid_request", "redirect_uri must be an absolute http(s) URL")
    if query.get("response_type") != "code":
        raise OAuthError(400, "unsupported_response_type", "response_type must be code")
    challenge = query.get("code_challenge")
    if not challenge or _CHALLENGE.fullmatch(challenge) is None:
        raise OAuthError(400, "invalid_request", "code_challenge (S256) is required")
    if query.get("code_challenge_method") != "S256":
        raise OAuthError(400, "invalid_request", "code_challenge_method must be S256")
    if query.get("audience", AUDIENCE) != AUDIENCE:
        raise OAuthError(400, "invalid_request", f"audience must be {AUDIENCE}")
    user = _authorizing_user(services.state, query.get("login_hint"))
    code = secrets.token_urlsafe(32)
    services.state.auth_codes[code] = AuthCode(
        client_id=services.config.client_id,
        redirect_uri=redirect_uri,
        user_id=user.id,
        scope=query.get("scope") or DEFAULT_AUTHORIZE_SCOPE,
        code_challenge=challenge,
        expires_at=time.time() + AUTH_CODE_LIFETIME_S,
    )
    back = {"code": code}
    if "state" in query:
        back["state"] = query["state"]
    location = str(target.extend_query(back))
    return web.Response(status=302, headers={"Location": location})


def oauth_routes() -> list[web.RouteDef]:
    """The authorization server's routes."""
    return [web.post("/oauth/token", token), web.get("/authorize", authorize)]
