"""reqfin-async: the asyncio client for the Request Finance invoice API.

::

    from reqfin_async import ApiKeyAuth, RequestFinanceClient

    async with RequestFinanceClient(ApiKeyAuth(key), network="test") as client:
        invoice = await client.invoices.create(body)
        invoice = await client.invoices.convert_to_request(invoice.id)
        print(invoice.request_id, invoice.status, invoice.total())
"""

from typing import TYPE_CHECKING, Any

from ._http.options import RequestOptions, RetryPolicy, Timeout
from ._http.ratelimit import RateLimiter, RateLimitState
from ._version import __version__
from .auth import (
    ApiKeyAuth,
    Auth,
    AuthorizationRequest,
    BearerAuth,
    ClientCredentialsAuth,
    PkcePair,
    RefreshTokenAuth,
    authorization_url,
    exchange_code,
)
from .client import DEFAULT_BASE_URL, Network, RequestFinanceClient
from .collector import (
    CollectedInvoice,
    CollectorCallback,
    CollectorCallbackError,
    CollectorInfo,
    CollectorStatusError,
    Customer,
    DisconnectionNotice,
    InvoiceCollectorClient,
    InvoiceDelivery,
    MemoryDedupe,
    SQLiteDedupe,
    UserToken,
    collector_callback_app,
    collector_callback_handler,
    parse_collector_callback,
)
from .errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChangeNotAllowedError,
    ClientClosedError,
    ConflictError,
    InternalServerError,
    InvoiceValidationError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    RequestFinanceError,
    WebhookSignatureError,
)
from .models import (
    FINAL_STATUSES,
    Address,
    Chain,
    ChangeType,
    ClientContact,
    Currency,
    Invoice,
    InvoiceChange,
    InvoiceEvent,
    InvoiceItem,
    InvoiceLinks,
    InvoicePage,
    InvoiceStatus,
    Meta,
    NewClientContact,
    NewInvoice,
    Organization,
    PartyInfo,
    PaymentInformation,
    PaymentMetadata,
    PaymentOption,
    PaymentOptionValue,
    PaymentTerms,
    Tax,
    TaxType,
    TokenSet,
    User,
)
from .money import format_amount, to_smallest_unit
from .poller import (
    FinishReason,
    MemoryWatchStore,
    PollerClosedError,
    PollerStats,
    SQLiteWatchStore,
    StatusChange,
    StatusPoller,
    WatchResult,
    WatchStore,
)
from .validation import validate_new_invoice
from .webhooks import (
    WebhookEvent,
    WebhookEventType,
    WebhookPayloadError,
    parse_webhook,
    sign_webhook,
    webhook_app,
    webhook_handler,
)

__all__ = [
    "__version__",
    # client
    "RequestFinanceClient",
    "Network",
    "DEFAULT_BASE_URL",
    "Timeout",
    "RetryPolicy",
    "RequestOptions",
    "RateLimiter",
    "RateLimitState",
    # auth
    "Auth",
    "ApiKeyAuth",
    "BearerAuth",
    "ClientCredentialsAuth",
    "RefreshTokenAuth",
    "PkcePair",
    "AuthorizationRequest",
    "authorization_url",
    "exchange_code",
    "TokenSet",
    # errors
    "RequestFinanceError",
    "ClientClosedError",
    "APIError",
    "APIConnectionError",
    "APITimeoutError",
    "APIStatusError",
    "APIResponseValidationError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "InternalServerError",
    "InvoiceValidationError",
    "ChangeNotAllowedError",
    "PaginationError",
    "WebhookSignatureError",
    # models
    "Invoice",
    "InvoiceStatus",
    "FINAL_STATUSES",
    "NewInvoice",
    "InvoiceItem",
    "Tax",
    "TaxType",
    "PartyInfo",
    "Address",
    "PaymentTerms",
    "PaymentOption",
    "PaymentOptionValue",
    "PaymentInformation",
    "PaymentMetadata",
    "InvoiceLinks",
    "InvoiceEvent",
    "InvoicePage",
    "Meta",
    "InvoiceChange",
    "ChangeType",
    "Organization",
    "User",
    "ClientContact",
    "NewClientContact",
    "Currency",
    "Chain",
    # money and validation
    "format_amount",
    "to_smallest_unit",
    "validate_new_invoice",
    # poller
    "StatusPoller",
    "StatusChange",
    "WatchResult",
    "FinishReason",
    "PollerStats",
    "PollerClosedError",
    "WatchStore",
    "MemoryWatchStore",
    "SQLiteWatchStore",
    "RedisWatchStore",
    # webhooks
    "WebhookEvent",
    "WebhookEventType",
    "WebhookPayloadError",
    "parse_webhook",
    "sign_webhook",
    "webhook_app",
    "webhook_handler",
    # Invoice-Collector
    "InvoiceCollectorClient",
    "Customer",
    "UserToken",
    "CollectorStatusError",
    "CollectorCallback",
    "CollectorCallbackError",
    "InvoiceDelivery",
    "DisconnectionNotice",
    "CollectorInfo",
    "CollectedInvoice",
    "parse_collector_callback",
    "collector_callback_app",
    "collector_callback_handler",
    "MemoryDedupe",
    "SQLiteDedupe",
]

if TYPE_CHECKING:
    from .poller.stores.redis import RedisWatchStore


def __getattr__(name: str) -> Any:
    # RedisWatchStore needs the optional `redis` package (reqfin-async[redis]).
    if name == "RedisWatchStore":
        from .poller.stores.redis import RedisWatchStore

        return RedisWatchStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
