"""The outbox as the event loop sees it: one thread of its own, and group commit.

SQLite and fsync block, so every outbox call runs on one dedicated thread (one
thread: calls are serialised in the order they are made, which keeps seq order
and confirmation order simple). Readings that arrive together are committed in
one transaction, and each caller is answered only after that commit: the
durability of one commit per reading, at the cost of one fsync per batch.

The queue in front of the commit is bounded; a producer that finds it full
waits (backpressure), nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from healthhub.agent.outbox import (
    NewMessage,
    Outbox,
    OutboxError,
    OutboxStats,
    OutboxWriteError,
    StoredMessage,
)
from healthhub.protocol.envelope import Envelope

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

MAX_PENDING = 1024
MAX_BATCH = 512


class AsyncOutbox:
    def __init__(self, outbox: Outbox, *, max_pending: int = MAX_PENDING) -> None:
        self.outbox = outbox
        self.max_pending = max_pending
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._pending: asyncio.Queue[tuple[NewMessage, asyncio.Future[Envelope]]] = asyncio.Queue(
            max_pending
        )
        self._committer: asyncio.Task[None] | None = None
        self.commits = 0

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def start(self) -> None:
        self._committer = asyncio.get_running_loop().create_task(self._commit_forever())

    async def take(self, message: NewMessage) -> Envelope:
        """Commit ``message`` durably; returns its envelope, or raises :class:`OutboxError`."""
        future: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        await self._pending.put((message, future))
        return await future

    @property
    def pending(self) -> int:
        return self._pending.qsize()

    async def _commit_forever(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while len(batch) < MAX_BATCH and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            messages = [message for message, _ in batch]
            try:
                results = await self._call(self.outbox.accept, messages)
            except Exception as exc:  # a defect must never leave a caller waiting forever
                log.exception("outbox commit failed")
                failure = OutboxWriteError(f"outbox commit failed: {type(exc).__name__}")
                results = [failure for _ in batch]
            finally:
                for _ in batch:
                    self._pending.task_done()
            self.commits += 1
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, OutboxError):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def read_after(self, seq: int, limit: int) -> list[StoredMessage]:
        return await self._call(self.outbox.read_after, seq, limit)

    async def confirm(self, seq: int) -> int:
        return await self._call(self.outbox.confirm, seq)

    async def stats(self) -> OutboxStats:
        return await self._call(self.outbox.stats)

    async def close(self) -> None:
        """Commit what is already queued, then stop the thread and close the database."""
        await self._pending.join()
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        await self._call(self.outbox.close)
        self._executor.shutdown(wait=True)
