"""The same invoice round trip with OAuth: client credentials, then the code flow with PKCE.

Runs against the embedded sandbox, which plays Request Finance's Auth0 tenant
(``/authorize`` approves at once and redirects with a code)::

    python examples/oauth_invoice.py
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from tempfile import TemporaryDirectory

import aiohttp
from yarl import URL

from api_key_invoice import create_convert_fetch  # the sibling example
from reqfin_async import (
    AuthorizationRequest,
    ClientCredentialsAuth,
    RefreshTokenAuth,
    RequestFinanceClient,
    TokenSet,
    exchange_code,
)
from reqfin_async.sandbox import Sandbox

REDIRECT_URI = "http://127.0.0.1:9999/callback"


async def client_credentials(sandbox: Sandbox) -> None:
    """Acting for your own account: the app's id and secret buy access tokens."""
    auth = ClientCredentialsAuth(
        client_id=sandbox.config.client_id,
        client_secret=sandbox.config.client_secret,
        token_url=sandbox.token_url,
    )
    async with RequestFinanceClient(auth, network="test", base_url=sandbox.url) as client:
        print("-- client credentials")
        await create_convert_fetch(client)


async def authorization_code(sandbox: Sandbox, token_file: Path) -> None:
    """Acting for a user: send them to /authorize, exchange the code, keep the refresh token."""
    start = AuthorizationRequest.create(
        client_id=sandbox.config.client_id,
        redirect_uri=REDIRECT_URI,
        issuer=sandbox.url,
    )
    # A browser would follow start.url; here we read the redirect ourselves.
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(start.url, allow_redirects=False) as answer,
    ):
        redirect = URL(answer.headers["Location"])
    start.check_state(redirect.query.get("state"))
    tokens = await exchange_code(
        redirect.query["code"],
        client_id=sandbox.config.client_id,
        client_secret=sandbox.config.client_secret,
        redirect_uri=REDIRECT_URI,
        code_verifier=start.code_verifier,
        token_url=sandbox.token_url,
    )

    def save(new: TokenSet) -> None:
        # Refresh tokens rotate: store each new one, the old one stops working.
        token_file.write_text(json.dumps({"refresh_token": new.refresh_token}))

    save(tokens)
    auth = RefreshTokenAuth.from_token_set(
        tokens,
        client_id=sandbox.config.client_id,
        client_secret=sandbox.config.client_secret,
        token_url=sandbox.token_url,
        on_refresh=save,
    )
    async with RequestFinanceClient(auth, network="test", base_url=sandbox.url) as client:
        print("-- authorization code + PKCE")
        await create_convert_fetch(client)
        me = await client.organizations.current_user()
        print(f"acting for {me.email}, organization {me.organization}")


async def main() -> None:
    async with Sandbox() as sandbox:
        await client_credentials(sandbox)
        with TemporaryDirectory() as tmp:
            await authorization_code(sandbox, Path(tmp) / "tokens.json")


if __name__ == "__main__":
    asyncio.run(main())
