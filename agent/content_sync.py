"""Content over the broker link: manifests in, the blobs they lack fetched, reports out.

The :class:`~healthhub.agent.content_store.ContentStore` decides; this module moves bytes.
Manifests arrive on the three retained content topics; the blobs a pending target lacks are
fetched by subscribing to their retained topics ``content/blobs/{sha256}``, at most
``window`` at a time (each a chunk of at most 192 KiB, so at most ``window`` chunks are in
memory), and unsubscribed once stored. A reconnect subscribes again to what is still
wanted. Nothing arrives for ``fetch_timeout_s`` while blobs are wanted: the target is given
up (reported ``rejected`` with the blobs that never came) and the content already served
stays. Store calls hash and fsync files, so they run in a worker thread, one at a time.

The moving of bytes (:class:`BlobSync`) is the same for any store that takes signed
manifests and the blobs they name: software updates (``agent/software_sync.py``) use it
with their own store and topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from healthhub.agent.config import DeviceConfig
from healthhub.agent.content_store import ContentStore
from healthhub.agent.mqtt_link import Incoming, LinkError, MqttLink
from healthhub.protocol import topics

log = logging.getLogger(__name__)

BLOB_PREFIX = f"{topics.ROOT}/content/blobs/"


class BlobStore(Protocol):
    """What :class:`BlobSync` asks of a store; every call may do file I/O."""

    def level_of(self, topic: str) -> str | None: ...
    def offer(self, level: str, payload: bytes) -> object: ...
    def receive(self, chunk_sha: str, payload: bytes) -> object: ...  # truthy: report
    def wanted(self) -> list[str]: ...
    def give_up(self, reason: str) -> object: ...
    def reported(self) -> dict[str, Any]: ...


StoreT = TypeVar("StoreT", bound=BlobStore)


class BlobSync(Generic[StoreT]):
    """Manifests to ``store``, the blobs it wants fetched through a window, reports out."""

    #: How long the loop sleeps when nothing wakes it (:meth:`tick` runs at least this often).
    idle_s = 5.0

    def __init__(
        self,
        store: StoreT,
        *,
        report: Callable[[], None],
        window: int = 16,
        fetch_timeout_s: float = 600.0,
    ) -> None:
        self.store = store
        self.window = window
        self.fetch_timeout_s = fetch_timeout_s
        self._report = report
        self._manifests: dict[str, bytes] = {}  # level -> latest payload not yet offered
        self._chunks: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(2 * window)
        self._wake = asyncio.Event()
        self._link: MqttLink | None = None
        self._subscribed: set[str] = set()
        self._last_progress = time.monotonic()
        self.counters = {"manifests": 0, "chunks": 0, "chunk_bytes": 0, "overflow": 0}
        # The store's report as of its last change: the store is used by one worker thread
        # at a time, so the loop (status file, telemetry) reads this copy instead.
        self.reported: dict[str, Any] = store.reported()

    def topics(self) -> list[str]:
        """The manifest topics to subscribe to on every connection."""
        raise NotImplementedError

    async def tick(self) -> bool:
        """Called by :meth:`run` at least every :attr:`idle_s`; True: report a change."""
        return False

    def received(self, message: Incoming) -> bool:
        """Take a message if it is content (a manifest or a blob); False if not ours."""
        level = self.store.level_of(message.topic)
        if level is not None:
            self.counters["manifests"] += 1
            self._manifests[level] = message.payload
            self._wake.set()
            return True
        if not message.topic.startswith(BLOB_PREFIX):
            return False
        sha = message.topic.removeprefix(BLOB_PREFIX)
        if sha not in self._subscribed or not message.payload:
            return True  # not asked for (any more), or a cleared topic
        try:
            self._chunks.put_nowait((sha, message.payload))
        except asyncio.QueueFull:  # retained copies again after a reconnect: fetch it anew
            self.counters["overflow"] += 1
            self._subscribed.discard(sha)
        self._wake.set()
        return True

    def link_up(self, link: MqttLink) -> None:
        """A new connection: nothing is subscribed on it yet."""
        self._link = link
        self._subscribed.clear()
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled: offer manifests, store chunks, keep the fetch window full."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.idle_s)
            self._wake.clear()
            if await self.tick():
                await self._changed()
            while self._manifests:
                level = next(iter(self._manifests))
                payload = self._manifests.pop(level)
                await asyncio.to_thread(self.store.offer, level, payload)
                self._last_progress = time.monotonic()
                await self._changed()
            while not self._chunks.empty():
                sha, payload = self._chunks.get_nowait()
                self._unsubscribe(sha)
                reports = await asyncio.to_thread(self.store.receive, sha, payload)
                self.counters["chunks"] += 1
                self.counters["chunk_bytes"] += len(payload)
                self._last_progress = time.monotonic()
                if reports:
                    await self._changed()
            await self._fill_window()

    async def _fill_window(self) -> None:
        wanted = await asyncio.to_thread(self.store.wanted)
        link = self._link
        if not wanted or link is None or link.closed.is_set():
            self._last_progress = time.monotonic()  # time offline does not count
            return
        if time.monotonic() - self._last_progress > self.fetch_timeout_s:
            missing = ", ".join(wanted[:3]) + (" ..." if len(wanted) > 3 else "")
            reason = (
                f"{len(wanted)} blob(s) did not arrive in {self.fetch_timeout_s:g} s: {missing}"
            )
            for sha in list(self._subscribed):
                self._unsubscribe(sha)
            await asyncio.to_thread(self.store.give_up, reason)
            self._last_progress = time.monotonic()
            await self._changed()
            return
        for sha in wanted:
            if len(self._subscribed) >= self.window:
                break
            if sha in self._subscribed:
                continue
            self._subscribed.add(sha)
            try:
                await link.subscribe(topics.content_blob(sha), qos=1)
            except LinkError as exc:
                log.warning("content: cannot fetch blob %s now: %s", sha[:12], exc)
                self._subscribed.discard(sha)
                return

    async def _changed(self) -> None:
        self.reported = await asyncio.to_thread(self.store.reported)
        self._report()

    def _unsubscribe(self, sha: str) -> None:
        self._subscribed.discard(sha)
        link = self._link
        if link is not None and not link.closed.is_set():
            try:
                link.unsubscribe(topics.content_blob(sha))
            except LinkError as exc:
                log.warning("content: unsubscribe from blob %s failed: %s", sha[:12], exc)

    def to_json(self) -> dict[str, object]:
        return {
            **self.counters,
            "window": self.window,
            "fetching": len(self._subscribed),
            "fetch_timeout_s": self.fetch_timeout_s,
        }


class ContentSync(BlobSync[ContentStore]):
    """Information content: the store in ``state_dir/content`` on the content topics."""

    @classmethod
    def for_device(
        cls, config: DeviceConfig, verify_key: bytes, *, report: Callable[[], None]
    ) -> ContentSync:
        """The store in ``state_dir/content`` with the device's ``content`` settings."""
        settings = config.content
        store = ContentStore(
            config.state_dir / "content",
            verify_key,
            device=config.device.id,
            site=config.device.site,
            budget_bytes=int(settings.budget_mb * 1024 * 1024),
        )
        return cls(
            store,
            report=report,
            window=settings.fetch_window,
            fetch_timeout_s=settings.fetch_timeout_s,
        )

    def topics(self) -> list[str]:
        """The manifest topics to subscribe to on every connection."""
        return [scope.content_topic() for scope in self.store.scopes.values()]
