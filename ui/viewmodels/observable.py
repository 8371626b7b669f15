"""The smallest observer: view-models call ``changed()``; the app redraws (coalesced) on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class AgentPort(Protocol):
    """What a view-model needs of the agent: the local API's ``call``."""

    async def call(self, op: str, **args: Any) -> dict[str, Any]: ...


class Observable:
    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def listen(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def changed(self) -> None:
        for listener in self._listeners:
            listener()
