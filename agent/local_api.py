"""The agent's end of the local API: a Unix socket server for the patient UI.

The wire format is :mod:`healthhub.protocol.local_api`. Requests on one
connection are answered in order. Every connection has a bounded queue of
frames to send: a UI that stops reading while events pile up is disconnected
(it reconnects and says ``hello`` again, which gives it the whole state), so a
stuck UI can never make the agent hold memory without limit. Nothing received
or sent is logged: events carry a patient's measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from healthhub.protocol import local_api as api
from healthhub.protocol.errors import MalformedMessage

log = logging.getLogger(__name__)

Handler = Callable[[api.Request], Awaitable[dict[str, Any]]]

#: Frames waiting to be written to one UI; beyond this the UI is too slow and is dropped.
MAX_QUEUED_FRAMES = 256
#: UIs connected at once (a kiosk has one; the rest are staff tools or mistakes).
MAX_CONNECTIONS = 8


class _Connection:
    def __init__(self, writer: asyncio.StreamWriter, bound: int) -> None:
        self.writer = writer
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(bound)
        self.subscribed = False
        self.dropped = False

    def send(self, frame: bytes) -> bool:
        """Queue a frame; False (and the connection is closing) if the queue is full."""
        if self.dropped:
            return False
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.dropped = True
            self.writer.transport.abort()
            return False
        return True

    async def write_forever(self) -> None:
        while True:
            frame = await self.queue.get()
            if frame is None:
                return
            self.writer.write(frame)
            await self.writer.drain()


class LocalApiServer:
    def __init__(
        self,
        path: Path,
        handler: Handler,
        *,
        max_queued: int = MAX_QUEUED_FRAMES,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.path = path
        self._handler = handler
        self.max_queued = max_queued
        self.max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self.counters = {"connections": 0, "refused": 0, "slow_dropped": 0, "bad_frames": 0}

    @property
    def connected(self) -> int:
        return len(self._connections)

    async def start(self) -> None:
        """Bind the socket (replacing a stale one: the agent's lock says none is live).

        It is bound under a temporary name, given mode 0660, then renamed into place, so
        nobody can connect while it still has the process umask's wider mode.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        for old in (staging, self.path):
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(old.lstat().st_mode):
                    old.unlink()
        with api.socket_address(staging) as address:
            self._server = await asyncio.start_unix_server(
                self._serve, path=address, limit=api.MAX_LINE
            )
        os.chmod(staging, 0o660)
        os.replace(staging, self.path)
        log.info("local API listening on %s", self.path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.writer.transport.abort()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def publish(self, event: api.Event) -> None:
        """Send an event to every UI that said hello; a UI that cannot keep up is dropped."""
        frame = api.encode_event(event)
        for connection in list(self._connections):
            if connection.subscribed and not connection.send(frame):
                self.counters["slow_dropped"] += 1
                log.warning("local API: a UI fell %d frames behind; disconnected", self.max_queued)

    def to_json(self) -> dict[str, Any]:
        return {**self.counters, "connected": self.connected, "bound": self.max_connections}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= self.max_connections:
            self.counters["refused"] += 1
            writer.close()
            return
        connection = _Connection(writer, self.max_queued)
        self._connections.add(connection)
        self.counters["connections"] += 1
        sender = asyncio.get_running_loop().create_task(connection.write_forever())
        try:
            await self._read_requests(reader, connection)
        finally:
            self._connections.discard(connection)
            connection.dropped = True
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await sender
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _read_requests(self, reader: asyncio.StreamReader, connection: _Connection) -> None:
        while not connection.dropped:
            try:
                line = await reader.readline()
            except (asyncio.LimitOverrunError, ValueError):
                self.counters["bad_frames"] += 1
                error = api.LocalApiError("bad_request", f"frame over {api.MAX_LINE} bytes")
                connection.send(api.encode_error(None, error))
                await asyncio.sleep(0)  # let the writer flush the reason before we go
                return
            except ConnectionError:
                return
            if not line:
                return
            if not line.strip():
                continue
            try:
                frame = api.decode(line)
                if not isinstance(frame, api.Request):
                    raise MalformedMessage("the UI may only send requests")
            except MalformedMessage as exc:
                self.counters["bad_frames"] += 1
                connection.send(api.encode_error(None, api.LocalApiError("bad_request", str(exc))))
                continue
            connection.send(await self._answer(frame, connection))

    async def _answer(self, request: api.Request, connection: _Connection) -> bytes:
        try:
            result = await self._handler(request)
        except api.LocalApiError as exc:
            return api.encode_error(request.id, exc)
        except Exception as exc:  # a defect answers "internal" and keeps the agent up
            log.exception("local API %s failed", request.op)
            error = api.LocalApiError("internal", f"{type(exc).__name__} in {request.op}")
            return api.encode_error(request.id, error)
        if request.op == "hello":
            connection.subscribed = True
        return api.encode_response(request.id, result)
