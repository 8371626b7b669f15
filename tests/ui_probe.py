"""What a patient UI sees of its agent, for tests: the hello, events in order, link changes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from healthhub.agent.local_client import AgentClient
from healthhub.protocol import local_api as api


class UiProbe:
    """What a UI sees: the hello, events in order, link changes."""

    def __init__(self, path: Path) -> None:
        self.events: list[api.Event] = []
        self.links: list[str] = []
        self.hellos: list[dict[str, Any]] = []
        self.client = AgentClient(
            path,
            on_event=self.events.append,
            on_hello=self.hellos.append,
            on_link=self.links.append,
            reconnect_initial_s=0.05,
            reconnect_max_s=0.5,
        )

    async def until(self, what: str, check: Callable[[], Any], timeout: float = 20) -> Any:
        async with asyncio.timeout(timeout):
            while not (value := check()):
                await asyncio.sleep(0.02)
        return value

    def event(self, name: str, /, **match: Any) -> dict[str, Any] | None:
        for event in self.events:
            if event.event == name and all(event.data.get(k) == v for k, v in match.items()):
                return event.data
        return None


def run_ui(path: Path, scenario: Callable[[UiProbe], Awaitable[None]]) -> UiProbe:
    probe = UiProbe(path)

    async def main() -> None:
        task = asyncio.create_task(probe.client.run())
        try:
            await probe.until("connected", lambda: probe.hellos, timeout=30)
            await scenario(probe)
        finally:
            task.cancel()

    asyncio.run(main())
    return probe
