"""The UI's end of the local API: a small asyncio client that keeps itself connected.

The UI runs on the same asyncio loop as Kivy (``App.async_run``), so calls are
plain coroutines and nothing blocks the screen. If the agent restarts, pending
calls fail with :class:`AgentUnavailable`, the UI is told ``reconnecting``,
and the client connects again with capped backoff and says ``hello`` again,
which gives the UI the whole state back. It imports only the wire contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from healthhub.protocol import local_api as api
from healthhub.protocol.errors import HealthHubError, MalformedMessage

log = logging.getLogger(__name__)

OnEvent = Callable[[api.Event], None]
OnHello = Callable[[dict[str, Any]], None]
OnLink = Callable[[str], None]  # "connected" | "reconnecting"

CALL_TIMEOUT_S = 15.0


class AgentUnavailable(HealthHubError):
    """The agent is not answering (restarting, stopped, or its socket is missing)."""


class AgentClient:
    def __init__(
        self,
        path: Path,
        *,
        on_event: OnEvent,
        on_hello: OnHello,
        on_link: OnLink,
        reconnect_initial_s: float = 0.2,
        reconnect_max_s: float = 5.0,
    ) -> None:
        self.path = path
        self._on_event = on_event
        self._on_hello = on_hello
        self._on_link = on_link
        self._initial = reconnect_initial_s
        self._max = reconnect_max_s
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self.connects = 0
        self.last_error = ""

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def run(self) -> None:
        """Stay connected until cancelled."""
        delay = self._initial
        while True:
            try:
                await self._session()
                delay = self._initial
            except (OSError, MalformedMessage, AgentUnavailable, api.LocalApiError) as exc:
                self.last_error = str(exc)
            self._disconnected()
            self._on_link("reconnecting")
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
            delay = min(delay * 2, self._max)

    async def _session(self) -> None:
        with api.socket_address(self.path) as address:
            reader, writer = await asyncio.open_unix_connection(address, limit=api.MAX_LINE)
        self._writer = writer
        reading = asyncio.get_running_loop().create_task(self._read(reader))
        try:
            self._connected.set()
            hello = await self.call("hello")
            self.connects += 1
            self._on_link("connected")
            self._on_hello(hello)
            await reading
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await reader.readline()
            except (asyncio.LimitOverrunError, ValueError) as exc:
                raise MalformedMessage(f"agent sent a frame over {api.MAX_LINE} bytes") from exc
            if not line:
                raise AgentUnavailable("the agent closed the connection")
            frame = api.decode(line)
            if isinstance(frame, api.Event):
                try:
                    self._on_event(frame)
                except Exception:  # a UI defect must not drop the agent's connection
                    log.exception("UI failed handling a %s event", frame.event)
            elif isinstance(frame, api.Response):
                future = self._pending.pop(frame.id, None)
                if future is None or future.done():
                    continue
                if frame.ok:
                    future.set_result(frame.result)
                else:
                    assert frame.error is not None
                    future.set_exception(frame.error)

    def _disconnected(self) -> None:
        self._connected.clear()
        self._writer = None
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(AgentUnavailable("the agent connection was lost"))

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        """Send a request and wait for its answer; :class:`~api.LocalApiError` if refused."""
        writer = self._writer
        if writer is None or not self.connected:
            raise AgentUnavailable("not connected to the agent")
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            writer.write(api.encode_request(api.Request(request_id, op, args)))
            await writer.drain()
            return await asyncio.wait_for(future, CALL_TIMEOUT_S)
        except (ConnectionError, OSError) as exc:
            raise AgentUnavailable(f"the agent connection failed: {exc}") from None
        except TimeoutError:
            raise AgentUnavailable(f"the agent did not answer {op} in time") from None
        finally:
            self._pending.pop(request_id, None)
