"""The transport: session lifecycle, the request loop, retry policy and rate pacing."""

from .options import UNSET, RequestOptions, RetryPolicy, Timeout, Unset
from .ratelimit import RateLimiter, RateLimitState
from .retry import Safety
from .transport import Params, Response, Transport, TransportStats

__all__ = [
    "UNSET",
    "Unset",
    "RequestOptions",
    "RetryPolicy",
    "Timeout",
    "RateLimiter",
    "RateLimitState",
    "Safety",
    "Params",
    "Response",
    "Transport",
    "TransportStats",
]
