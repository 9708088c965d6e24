"""The sandbox's settings: credentials, delays, rate limits, chaos and scripted buyers.

Every field has a default, so ``SandboxConfig()`` is a working sandbox; tests
shorten the delays::

    config = SandboxConfig(pending_delay_s=0.05, change_delay_s=0.05, seed=7)
    async with Sandbox(config) as sandbox: ...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "BUYER_BEHAVIOURS",
    "CHAOS_KINDS",
    "BuyerScript",
    "ChaosConfig",
    "SandboxConfig",
]

CHAOS_KINDS = ("500", "503", "429", "drop", "slow", "drop_after")
BUYER_BEHAVIOURS = ("pay", "approve_then_pay", "declare_then_pay", "reject", "pay_late", "ignore")


def _check_weights(weights: Mapping[str, float], known: tuple[str, ...], what: str) -> None:
    unknown = set(weights) - set(known)
    if unknown:
        raise ValueError(f"unknown {what}: {sorted(unknown)}; known: {list(known)}")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"{what} weights must be >= 0 with a positive sum")


@dataclass(frozen=True)
class ChaosConfig:
    """Faults injected on the API routes, each request with probability ``rate``.

    ``kinds`` weighs the faults: ``"500"``, ``"503"`` and ``"429"`` (with
    ``Retry-After: retry_after_s``), ``"drop"`` (connection closed before handling),
    ``"slow"`` (answer after ``slow_s``) and ``"drop_after"`` (handled, then the
    connection is closed: the invoice exists but the client never hears of it)::

        ChaosConfig(rate=0.2, kinds={"drop_after": 1})
    """

    rate: float = 0.0
    kinds: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(CHAOS_KINDS, 1.0))
    slow_s: float = 1.5
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"chaos rate must be within [0, 1], got {self.rate}")
        _check_weights(self.kinds, CHAOS_KINDS, "chaos kinds")
        if self.slow_s < 0 or self.retry_after_s < 0:
            raise ValueError("slow_s and retry_after_s must be >= 0")


@dataclass(frozen=True)
class BuyerScript:
    """Scripted buyers: how every invoice that becomes ``open`` is answered.

    A behaviour is drawn per invoice by ``weights``; each of its steps comes after a
    random delay within ``[min_delay_s, max_delay_s]``. With ``SandboxConfig.seed``
    the draw depends only on the seed and the invoice number, so runs repeat::

        BuyerScript(weights={"pay": 3, "reject": 1}, min_delay_s=0.1, max_delay_s=0.5)
    """

    weights: Mapping[str, float] = field(
        default_factory=lambda: dict.fromkeys(BUYER_BEHAVIOURS, 1.0)
    )
    min_delay_s: float = 1.0
    max_delay_s: float = 5.0
    reject_note: str = "Rejected by the sandbox buyer"

    def __post_init__(self) -> None:
        _check_weights(self.weights, BUYER_BEHAVIOURS, "buyer behaviours")
        if not 0 <= self.min_delay_s <= self.max_delay_s:
            raise ValueError("buyer delays must satisfy 0 <= min_delay_s <= max_delay_s")


@dataclass(frozen=True)
class SandboxConfig:
    """Everything the sandbox can be told; the defaults are documented sandbox values.

    The credentials are well-known sandbox defaults, not secrets::

        SandboxConfig(api_key="k", webhook_url="http://127.0.0.1:9000/hook", seed=1)
    """

    api_key: str = "sandbox-api-key"
    buyer_api_key: str = "sandbox-buyer-key"
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"  # noqa: S105 - a published sandbox default
    token_lifetime_s: int = 86400
    webhook_url: str | None = None
    webhook_secret: str = "sandbox-webhook-secret"  # noqa: S105 - a published sandbox default
    webhook_timestamp: Literal["ms", "iso"] = "ms"
    pending_delay_s: float = 1.0
    change_delay_s: float = 0.3
    api_key_limit: int = 5000
    oauth_limit: int = 15000
    unauthenticated_limit: int = 500
    rate_window_s: float = 3600.0
    chaos: ChaosConfig = field(default_factory=ChaosConfig)
    buyers: BuyerScript | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.webhook_timestamp not in ("ms", "iso"):
            raise ValueError("webhook_timestamp must be 'ms' or 'iso'")
        if self.api_key == self.buyer_api_key:
            raise ValueError("api_key and buyer_api_key must differ")
        if min(self.api_key_limit, self.oauth_limit, self.unauthenticated_limit) < 0:
            raise ValueError("rate limits must be >= 0")
        if self.rate_window_s <= 0 or self.token_lifetime_s <= 0:
            raise ValueError("rate_window_s and token_lifetime_s must be > 0")
        if self.pending_delay_s < 0 or self.change_delay_s < 0:
            raise ValueError("delays must be >= 0")
