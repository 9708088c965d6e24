"""How invoices come to be: records from validated content, on-chain fields, seeds.

::

    record = new_record(state, content, user, account_id="...", network="test")
    put_on_chain(state, record)    # requestId, links, status "pending", the create event
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from .state import (
    InvoiceRecord,
    SandboxState,
    User,
    format_iso,
    new_object_id,
    new_request_id,
    now_iso,
    parse_iso,
)

__all__ = ["DEFAULT_CHAINS", "chain_of", "new_record", "put_on_chain", "seed_content"]

_APP_URL = "https://app.request.finance"
# Where a request lives when its payment options name no chain.
DEFAULT_CHAINS = {"live": "mainnet", "test": "sepolia"}


def _timestamp(value: object) -> float | None:
    moment = parse_iso(value)
    return moment.timestamp() if moment is not None else None


def new_record(
    state: SandboxState,
    content: dict[str, Any],
    creator: User,
    *,
    account_id: str,
    network: str,
) -> InvoiceRecord:
    """A new off-chain invoice from validated content, stored in ``state``."""
    data: dict[str, Any] = {"id": new_object_id(), **content}
    seller = data.get("sellerInfo")
    if seller is None:
        seller = {"email": creator.email, "firstName": creator.firstname,
                  "lastName": creator.lastname}  # fmt: skip
    data["sellerInfo"] = {**seller, "userId": creator.id}
    buyer_email = str((data.get("buyerInfo") or {}).get("email", "")).lower()
    buyer = state.users_by_email.get(buyer_email)
    if buyer is not None:
        data["buyerInfo"] = {**data["buyerInfo"], "userId": buyer.id}
    data["createdBy"] = creator.id
    data["type"] = network
    record = InvoiceRecord(
        data=data,
        network=network,
        account_id=account_id,
        creator_id=creator.id,
        buyer_email=buyer_email,
        variant=str(data["meta"]["format"]),
        created_ts=_timestamp(data["creationDate"]) or 0.0,
        due_ts=_timestamp((data.get("paymentTerms") or {}).get("dueDate")),
    )
    state.add_invoice(record)
    return record


def chain_of(record: InvoiceRecord) -> str:
    """The chain the request is paid on: the first payment option's, else the network's."""
    for option in record.data.get("paymentOptions") or ():
        chain = ((option.get("value") or {}).get("paymentInformation") or {}).get("chain")
        if chain:
            return str(chain)
    return DEFAULT_CHAINS[record.network]


def put_on_chain(state: SandboxState, record: InvoiceRecord, status: str = "pending") -> None:
    """Turn an off-chain invoice into a request: ids, links, status and the create event."""
    request_id = new_request_id()
    token = "0x" + secrets.token_hex(32)
    record.links = {
        "pay": f"{_APP_URL}/{request_id}?token={token}&enablePayment=true",
        "view": f"{_APP_URL}/{request_id}?token={token}",
        "signUpAndPay": (
            f"{_APP_URL}/signup?invoice={request_id}&token={token}&enablePayment=true"
        ),
    }
    record.data.update(
        trackedTransactions=[],
        requestId=request_id,
        status=status,
        paymentMetadata={},
        events=[{"name": "create", "userId": record.creator_id, "date": now_iso()}],
    )
    record.changed()
    state.index_request_id(record)


def seed_content(number: str, *, buyer_email: str, due_in_s: float) -> dict[str, Any]:
    """Valid invoice content for bulk seeding (one line, 2 x $99.99 at 20 % tax)."""
    now = datetime.now(UTC)
    return {
        "meta": {"format": "rnf_invoice", "version": "0.0.3"},
        "creationDate": format_iso(now),
        "invoiceNumber": number,
        "invoiceItems": [
            {
                "currency": "USD",
                "name": "Television",
                "quantity": 2,
                "tax": {"type": "percentage", "amount": "20"},
                "unitPrice": "9999",
            }
        ],
        "buyerInfo": {"email": buyer_email, "businessName": "Sandbox Buyer"},
        "paymentTerms": {"dueDate": format_iso(now + timedelta(seconds=due_in_s))},
        "paymentOptions": [
            {
                "type": "wallet",
                "value": {
                    "currencies": ["USDC-matic"],
                    "paymentInformation": {
                        "paymentAddress": "0x4886E85E192cdBC81d42D89256a81dAb990CDD74",
                        "chain": "matic",
                    },
                },
            }
        ],
    }
