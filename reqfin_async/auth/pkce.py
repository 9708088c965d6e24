"""The Authorization Code flow with PKCE (S256): the authorize URL and the code exchange.

::

    start = AuthorizationRequest.create(client_id=cid, redirect_uri="https://app.example/cb")
    # redirect the user to start.url; keep start.state and start.code_verifier in their session
    start.check_state(returned_state)
    tokens = await exchange_code(code, client_id=cid, client_secret=secret,
                                 redirect_uri="https://app.example/cb",
                                 code_verifier=start.code_verifier)
    auth = RefreshTokenAuth.from_token_set(tokens, client_id=cid, client_secret=secret)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

from .._http.headers import user_agent
from .._http.options import RequestOptions, RetryPolicy, Timeout
from .._http.retry import Safety
from .._http.transport import Transport
from .._urls import check_base_url
from ..models.token import TokenSet
from .base import NoAuth
from .oauth import DEFAULT_AUDIENCE, DEFAULT_TOKEN_URL, parse_token_response

__all__ = [
    "DEFAULT_ISSUER",
    "DEFAULT_SCOPES",
    "PkcePair",
    "AuthorizationRequest",
    "authorization_url",
    "exchange_code",
]

DEFAULT_ISSUER = "https://auth.request.finance"
DEFAULT_SCOPES: tuple[str, ...] = ("openid", "profile", "email", "offline_access")
_VERIFIER_BYTES = 48  # 64 URL-safe characters, within RFC 7636's 43..128


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class PkcePair:
    """A PKCE code verifier and its S256 challenge (RFC 7636).

    ::

        pair = PkcePair.generate()
        url = authorization_url(client_id=cid, redirect_uri=cb, code_challenge=pair.challenge)
    """

    verifier: str = field(repr=False)
    challenge: str
    method: str = "S256"

    @classmethod
    def generate(cls) -> PkcePair:
        verifier = secrets.token_urlsafe(_VERIFIER_BYTES)
        return cls(verifier=verifier, challenge=_s256(verifier))

    @classmethod
    def from_verifier(cls, verifier: str) -> PkcePair:
        if not 43 <= len(verifier) <= 128:
            raise ValueError("a PKCE code verifier has 43 to 128 characters")
        return cls(verifier=verifier, challenge=_s256(verifier))


def authorization_url(
    *,
    client_id: str,
    redirect_uri: str,
    code_challenge: str,
    state: str,
    scopes: Sequence[str] = DEFAULT_SCOPES,
    audience: str = DEFAULT_AUDIENCE,
    issuer: str = DEFAULT_ISSUER,
    prompt_consent: bool = False,
    extra: Mapping[str, str] | None = None,
) -> str:
    """The URL to send a user to: ``{issuer}/authorize`` with the PKCE challenge.

    ``prompt_consent=True`` adds ``prompt=consent``, which makes the user grant
    scopes they are missing (``offline_access`` for a refresh token, say).
    """
    base = check_base_url(issuer, what="issuer")
    if not client_id:
        raise ValueError("client_id must not be empty")
    if not state:
        raise ValueError("state must not be empty: it protects the redirect against CSRF")
    query: dict[str, str] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "audience": audience,
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    if prompt_consent:
        query["prompt"] = "consent"
    if extra:
        query.update(extra)
    return str((base / "authorize").with_query(query))


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """One start of the Authorization Code flow: the URL, its state and its verifier.

    Keep ``state`` and ``code_verifier`` server-side (the user's session) until
    the redirect comes back.
    """

    url: str
    state: str
    code_verifier: str = field(repr=False)

    @classmethod
    def create(
        cls,
        *,
        client_id: str,
        redirect_uri: str,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        audience: str = DEFAULT_AUDIENCE,
        issuer: str = DEFAULT_ISSUER,
        prompt_consent: bool = False,
    ) -> AuthorizationRequest:
        pair = PkcePair.generate()
        state = secrets.token_urlsafe(24)
        url = authorization_url(
            client_id=client_id,
            redirect_uri=redirect_uri,
            code_challenge=pair.challenge,
            state=state,
            scopes=scopes,
            audience=audience,
            issuer=issuer,
            prompt_consent=prompt_consent,
        )
        return cls(url=url, state=state, code_verifier=pair.verifier)

    def check_state(self, returned: str | None) -> None:
        """Raise ``ValueError`` unless the redirect brought back our state (constant time)."""
        if returned is None or not hmac.compare_digest(returned.encode(), self.state.encode()):
            raise ValueError("the state returned by the authorization server does not match")


async def exchange_code(
    code: str,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code_verifier: str,
    token_url: str = DEFAULT_TOKEN_URL,
    session: aiohttp.ClientSession | None = None,
    timeout: Timeout | float = Timeout(),  # noqa: ASYNC109 - a per-request HTTP timeout
) -> TokenSet:
    """Exchange an authorization code for tokens (``grant_type=authorization_code``).

    The code is single-use, so a failure after sending is not retried. Raises
    ``AuthenticationError`` with ``oauth_error`` (``invalid_grant``, ...) when refused.
    """
    check_base_url(token_url, what="token_url")
    if not code:
        raise ValueError("code must not be empty")
    origin = URL(token_url).origin()
    transport = Transport(
        base_url=str(origin),
        auth=NoAuth(),
        static_headers={"User-Agent": user_agent()},
        session=session,
    )
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    options = RequestOptions(timeout=Timeout.coerce(timeout), retry=RetryPolicy())
    try:
        status, body, request_id = await transport.post_form(
            token_url, form, options=options, safety=Safety.UNSAFE
        )
    finally:
        await transport.aclose()
    return parse_token_response(token_url, status, body, request_id)
