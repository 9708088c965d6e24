"""The Invoice-Collector sandbox's settings: bearer, token lifetime, delivery policy.

The defaults are those of the real server (10-minute user tokens, three
delivery tries 10 s apart, 100 kB JSON bodies); tests shorten the delays::

    CollectorSandboxConfig(retry_delay_s=0.05, callback="http://127.0.0.1:9000/cb")
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CollectorSandboxConfig"]


@dataclass(frozen=True)
class CollectorSandboxConfig:
    """Everything the Invoice-Collector sandbox can be told.

    The bearer is a published sandbox default, not a secret::

        async with CollectorSandbox(CollectorSandboxConfig(retry_delay_s=0.05)) as ic_server: ...
    """

    bearer: str = "collector-sandbox-bearer"
    customer_name: str = "default"
    callback: str | None = None
    user_token_ttl_s: float = 600.0
    delivery_attempts: int = 3
    retry_delay_s: float = 10.0
    delivery_timeout_s: float = 10.0
    max_json_bytes: int = 100 * 1024

    def __post_init__(self) -> None:
        if not self.bearer:
            raise ValueError("bearer must not be empty")
        if self.user_token_ttl_s <= 0 or self.delivery_timeout_s <= 0:
            raise ValueError("user_token_ttl_s and delivery_timeout_s must be > 0")
        if self.delivery_attempts < 1:
            raise ValueError("delivery_attempts must be at least 1")
        if self.retry_delay_s < 0:
            raise ValueError("retry_delay_s must be >= 0")
        if self.max_json_bytes < 1:
            raise ValueError("max_json_bytes must be positive")
