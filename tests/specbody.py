"""The specification's example invoice, shared by the suites that send raw JSON."""

from __future__ import annotations

import copy
from typing import Any

BUYER_EMAIL = "buyer@sandbox.test"
SELLER_EMAIL = "seller@sandbox.test"
WALLET = "0x4886E85E192cdBC81d42D89256a81dAb990CDD74"

# The specification's example body (2 televisions at $99.99, 20 % tax, paid in
# USDC on Polygon), addressed to the sandbox's buyer and due far in the future.
SPEC_BODY: dict[str, Any] = {
    "creationDate": "2022-12-22T14:38:16.916Z",
    "invoiceItems": [
        {
            "currency": "USD",
            "name": "Television",
            "quantity": 2,
            "tax": {"type": "percentage", "amount": "20"},
            "unitPrice": "9999",
        }
    ],
    "invoiceNumber": "13",
    "buyerInfo": {
        "businessName": "Acme Wholesaler Ltd.",
        "address": {
            "streetAddress": "4933 Oakwood Avenue",
            "extendedAddress": "",
            "city": "New York",
            "postalCode": "10038",
            "region": "New York",
            "country": "US",
        },
        "email": BUYER_EMAIL,
        "firstName": "Justin",
        "lastName": "Walton",
        "taxRegistration": "985-80-3313",
    },
    "paymentTerms": {"dueDate": "2099-01-21T23:59:59.999Z"},
    "paymentOptions": [
        {
            "type": "wallet",
            "value": {
                "currencies": ["USDC-matic"],
                "paymentInformation": {"paymentAddress": WALLET, "chain": "matic"},
            },
        }
    ],
    "tags": ["my_tag"],
}


def invoice_body(
    number: str = "13", *, buyer_email: str = BUYER_EMAIL, **overrides: Any
) -> dict[str, Any]:
    """A fresh copy of the specification's example with this ``invoiceNumber``."""
    body = copy.deepcopy(SPEC_BODY)
    body["invoiceNumber"] = number
    body["buyerInfo"]["email"] = buyer_email
    body.update(overrides)
    return body
