"""One module per family of endpoints; each method says what it sends and reads back."""

from ._pagination import InvoiceIterator
from .clients import ClientsResource
from .currencies import CurrenciesResource
from .invoices import InvoicesResource
from .organizations import OrganizationsResource
from .salaries import SalariesResource

__all__ = [
    "InvoiceIterator",
    "ClientsResource",
    "CurrenciesResource",
    "InvoicesResource",
    "OrganizationsResource",
    "SalariesResource",
]
