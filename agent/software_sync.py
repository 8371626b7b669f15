"""Software updates over the broker link: the three software topics in, wheels fetched as
content blobs, ``software/reported`` out, and the trial of a new release.

The fetching is :class:`~healthhub.agent.content_sync.BlobSync`'s (a window of blobs, a
timeout, resubscribing after a reconnect) with the content settings' window and timeout;
the decisions are :class:`~healthhub.agent.software_store.SoftwareStore`'s. Every second
(:meth:`SoftwareSync.tick`) the store reads the updater's ``result.json``, and while this
release is on trial writes ``health.json`` from :attr:`health`: the link's state, the outbox's
last and confirmed seq, and the confirmed seq when this process started. The updater judges
the release from that (``provisioning/update_apply.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from healthhub.agent.config import DeviceConfig
from healthhub.agent.content_sync import BlobSync
from healthhub.agent.software_store import SoftwareStore
from healthhub.protocol import software


class SoftwareSync(BlobSync[SoftwareStore]):
    idle_s = 1.0

    def __init__(
        self,
        store: SoftwareStore,
        *,
        report: Callable[[], None],
        health: Callable[[], dict[str, Any]],
        window: int = 16,
        fetch_timeout_s: float = 600.0,
    ) -> None:
        super().__init__(store, report=report, window=window, fetch_timeout_s=fetch_timeout_s)
        self.health = health

    @classmethod
    def for_device(
        cls,
        config: DeviceConfig,
        verify_key: bytes,
        *,
        report: Callable[[], None],
        health: Callable[[], dict[str, Any]],
    ) -> SoftwareSync:
        """The store in ``state_dir/software`` for the release this process runs."""
        store = SoftwareStore(
            config.state_dir / software.SOFTWARE_DIR,
            verify_key,
            device=config.device.id,
            site=config.device.site,
            running=version("healthhub"),
        )
        return cls(
            store,
            report=report,
            health=health,
            window=config.content.fetch_window,
            fetch_timeout_s=config.content.fetch_timeout_s,
        )

    def topics(self) -> list[str]:
        return [software.software_topic(scope) for scope in self.store.scopes.values()]

    async def tick(self) -> bool:
        return await asyncio.to_thread(self.store.poll, self.health())
