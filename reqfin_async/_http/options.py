"""Per-client defaults and per-call overrides: timeouts, retries, organization."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp

__all__ = ["Timeout", "RetryPolicy", "RequestOptions", "UNSET", "Unset"]

DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_TOTAL_TIMEOUT_S = 30.0
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_BACKOFF_BASE_S = 0.5
DEFAULT_BACKOFF_CAP_S = 8.0
DEFAULT_RETRY_AFTER_CAP_S = 60.0


class Unset:
    """Marker for "not overridden", distinct from ``None`` (which may mean "no organization")."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET = Unset()


@dataclass(frozen=True, slots=True)
class Timeout:
    """How long one attempt may take: to connect, and in all (connect, send, answer).

    ::

        client = RequestFinanceClient(auth, timeout=Timeout(connect_s=3, total_s=15))
    """

    connect_s: float | None = DEFAULT_CONNECT_TIMEOUT_S
    total_s: float | None = DEFAULT_TOTAL_TIMEOUT_S

    def __post_init__(self) -> None:
        for name in ("connect_s", "total_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"Timeout.{name} must be positive or None, got {value!r}")

    def to_aiohttp(self) -> aiohttp.ClientTimeout:
        # sock_connect, not connect: aiohttp's `connect` also covers the wait for a
        # free pooled connection (queueing, not connecting) and arms a timer on every
        # request, even when a kept-alive connection is at hand.
        return aiohttp.ClientTimeout(total=self.total_s, sock_connect=self.connect_s)

    @classmethod
    def coerce(cls, value: Timeout | float | None) -> Timeout:
        """A ``Timeout`` from a number of seconds (the total), ``None`` (no limit) or itself."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(connect_s=None, total_s=None)
        return cls(total_s=float(value), connect_s=min(float(value), DEFAULT_CONNECT_TIMEOUT_S))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient failures are retried: attempts in all, and the backoff between them.

    Delays are exponential with full jitter: attempt *n* waits a uniform random
    time in ``[0, min(backoff_cap_s, backoff_base_s * 2**(n-1))]``. A server's
    ``Retry-After`` replaces that delay when it is at most ``retry_after_cap_s``;
    a longer one ends the retries at once, since waiting minutes inside one call
    helps nobody. ::

        client = RequestFinanceClient(auth, retry=RetryPolicy(max_attempts=6))
        client.with_options(retry=RetryPolicy.none())  # one attempt for this view
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_base_s: float = DEFAULT_BACKOFF_BASE_S
    backoff_cap_s: float = DEFAULT_BACKOFF_CAP_S
    retry_after_cap_s: float = DEFAULT_RETRY_AFTER_CAP_S

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(
                f"RetryPolicy.max_attempts must be at least 1, got {self.max_attempts}"
            )
        if self.backoff_base_s < 0 or self.backoff_cap_s < 0 or self.retry_after_cap_s < 0:
            raise ValueError("RetryPolicy delays must not be negative")

    @classmethod
    def none(cls) -> RetryPolicy:
        """A single attempt, no retry."""
        return cls(max_attempts=1)

    @classmethod
    def coerce(cls, value: RetryPolicy | int) -> RetryPolicy:
        """A ``RetryPolicy`` from a number of retries (``0`` = one attempt) or itself."""
        if isinstance(value, RetryPolicy):
            return value
        if value < 0:
            raise ValueError(f"retries must not be negative, got {value}")
        return cls(max_attempts=value + 1)


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """The options one call runs with; a client view overrides some of them."""

    timeout: Timeout = Timeout()
    retry: RetryPolicy = RetryPolicy()
    organization: str | None = None
    # Built once here rather than on every request of the hot path.
    client_timeout: aiohttp.ClientTimeout = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.organization is not None and not self.organization.strip():
            # "" would silently mean "no organization", and " " be sent as is.
            raise ValueError("organization must be a non-empty id or None")
        object.__setattr__(self, "client_timeout", self.timeout.to_aiohttp())

    def replace(
        self,
        *,
        timeout: Timeout | float | Unset | None = UNSET,
        retry: RetryPolicy | int | Unset = UNSET,
        organization: str | Unset | None = UNSET,
    ) -> RequestOptions:
        return RequestOptions(
            timeout=self.timeout if isinstance(timeout, Unset) else Timeout.coerce(timeout),
            retry=self.retry if isinstance(retry, Unset) else RetryPolicy.coerce(retry),
            organization=self.organization if isinstance(organization, Unset) else organization,
        )
