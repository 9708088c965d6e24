"""A local emulation of the Request Finance API, for the demo, examples, tests and benchmarks.

It serves the invoice API, the OAuth token endpoint and a control plane
(``/sandbox/...``) on 127.0.0.1, behaving like the documented service: the
same answers, errors, rate-limit headers, asynchronous status changes and
signed webhooks. It shares no code with the client::

    async with Sandbox(SandboxConfig(pending_delay_s=0.1)) as sandbox:
        ...  # point a client at sandbox.url with sandbox.config.api_key
"""

from __future__ import annotations

from .config import BuyerScript, ChaosConfig, SandboxConfig
from .server import Sandbox, run_sandbox

__all__ = ["Sandbox", "SandboxConfig", "ChaosConfig", "BuyerScript", "run_sandbox"]
