"""Create an invoice, convert it to an on-chain request and fetch it, with an API key.

Runs against the embedded sandbox, so it works anywhere::

    python examples/api_key_invoice.py

Against the real API, set REQFIN_API_KEY (and REQFIN_NETWORK=live for live
data) and the same code talks to https://api.request.finance.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from datetime import UTC, datetime, timedelta

from reqfin_async import (
    ApiKeyAuth,
    InvoiceItem,
    NewInvoice,
    PartyInfo,
    PaymentInformation,
    PaymentOption,
    PaymentOptionValue,
    PaymentTerms,
    RequestFinanceClient,
    Tax,
    TaxType,
    format_amount,
)
from reqfin_async.sandbox import Sandbox


def new_invoice(number: str) -> NewInvoice:
    """The specification's example: two TVs at $99.99 plus 20 % tax, paid in USDC."""
    return NewInvoice(
        invoice_number=number,
        creation_date=datetime.now(UTC),
        invoice_items=[
            InvoiceItem(
                name="Television",
                currency="USD",
                quantity=2,
                unit_price="9999",  # in cents: $99.99
                tax=Tax(type=TaxType.PERCENTAGE, amount="20"),
            )
        ],
        buyer_info=PartyInfo(
            business_name="Acme Wholesaler Ltd.", email="justin.walton@acme-wholesaler.com"
        ),
        payment_terms=PaymentTerms(due_date=datetime.now(UTC) + timedelta(days=30)),
        payment_options=[
            PaymentOption(
                value=PaymentOptionValue(
                    currencies=["USDC-matic"],
                    payment_information=PaymentInformation(
                        payment_address="0x4886E85E192cdBC81d42D89256a81dAb990CDD74",
                        chain="matic",
                    ),
                )
            )
        ],
        tags=["example"],
    )


async def create_convert_fetch(client: RequestFinanceClient) -> None:
    number = f"EX-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"  # unique per account
    invoice = await client.invoices.create(new_invoice(number))
    print(f"created   {invoice.invoice_number} (id {invoice.id})")
    invoice = await client.invoices.convert_to_request(invoice.id)
    print(f"converted -> requestId {invoice.request_id}, status {invoice.status}")
    assert invoice.request_id is not None
    fetched = await client.invoices.get(invoice.request_id, with_links=True)
    print(f"fetched   status {fetched.status}, total {format_amount(fetched.total(), 2, 'USD')}")
    if fetched.invoice_links is not None:
        print(f"pay link  {fetched.invoice_links!r}")  # the repr hides the link's token


async def main() -> None:
    if os.environ.get("REQFIN_API_KEY"):
        async with RequestFinanceClient.from_env() as client:
            await create_convert_fetch(client)
        return
    async with Sandbox() as sandbox:
        auth = ApiKeyAuth(sandbox.config.api_key)
        async with RequestFinanceClient(auth, network="test", base_url=sandbox.url) as client:
            await create_convert_fetch(client)


if __name__ == "__main__":
    asyncio.run(main())
