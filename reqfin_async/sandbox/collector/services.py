"""The parts of one Invoice-Collector sandbox, reachable from every handler.

::

    services = request.app[COLLECTOR]
    services.state.users, services.collections.collect_in_background()
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..tasks import TaskSet
from .collection import Collections
from .config import CollectorSandboxConfig
from .delivery import CallbackSender
from .state import CollectorState

__all__ = ["COLLECTOR", "Services"]


@dataclass
class Services:
    """State, deliveries and the background tasks of one sandbox."""

    config: CollectorSandboxConfig
    state: CollectorState
    sender: CallbackSender
    collections: Collections
    tasks: TaskSet
    requests: int = 0

    @classmethod
    def build(cls, config: CollectorSandboxConfig) -> Services:
        state = CollectorState(config)
        sender = CallbackSender(config, state)
        tasks = TaskSet()
        return cls(config, state, sender, Collections(state, sender, tasks), tasks)

    async def aclose(self) -> None:
        """Cancel and await every background task, then close the delivery session."""
        await self.tasks.aclose()
        await self.sender.aclose()


COLLECTOR = web.AppKey("collector_sandbox", Services)
