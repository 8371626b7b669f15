"""Taking readings: group commit, and a full outbox reported to the peripheral, never a drop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from healthhub.agent.async_outbox import AsyncOutbox
from healthhub.agent.outbox import NewMessage, Outbox, OutboxFull
from healthhub.agent.peripherals import PeripheralSupervisor
from healthhub.drivers.base import DriverReading, PeripheralSpec, PeripheralState
from healthhub.protocol.sealed import Sealer, generate_keypair

_, PUBLIC = generate_keypair()


def message(n: int) -> NewMessage:
    return NewMessage(
        "readings",
        "heart_rate",
        {"components": [{"code": "pulse", "value": 50 + n % 50, "unit": "/min"}]},
        datetime.now(UTC),
    )


def make(tmp_path: Path, bound: int) -> AsyncOutbox:
    outbox = Outbox(
        tmp_path / "outbox.sqlite",
        device="wall-1",
        site="practice-a",
        sealer=Sealer(PUBLIC),
        max_messages=bound,
    )
    return AsyncOutbox(outbox, max_pending=16)


def test_concurrent_takes_share_commits_and_keep_order(tmp_path: Path) -> None:
    async def run() -> tuple[list[int], int]:
        store = make(tmp_path, 10_000)
        store.start()
        envelopes = await asyncio.gather(*(store.take(message(i)) for i in range(400)))
        commits = store.commits
        await store.close()
        return sorted(e.seq for e in envelopes), commits

    seqs, commits = asyncio.run(run())
    assert seqs == list(range(1, 401))
    assert commits < 400, "readings that arrive together share one fsync"


def test_full_outbox_is_an_error_for_the_peripheral_not_a_drop(tmp_path: Path) -> None:
    async def run() -> tuple[PeripheralSupervisor, int, list[int]]:
        store = make(tmp_path, 5)
        store.start()

        async def take(peripheral: str, reading: DriverReading) -> None:
            body = {"components": [c.to_json() for c in reading.measurement.components]}
            await store.take(
                NewMessage("readings", reading.measurement.kind, body, reading.taken_at)
            )

        spec = PeripheralSpec("scale", "scale", "simulator", {"interval_s": 0.001, "count": 20})
        supervisor = PeripheralSupervisor([spec], take, restart_initial_s=0.5, restart_max_s=1.0)
        task = asyncio.create_task(supervisor.run())
        status = supervisor.status["scale"]
        # While it waits to retry, the peripheral shows the error (no reading is dropped).
        while status.state != PeripheralState.ERROR:
            await asyncio.sleep(0.01)
        task.cancel()
        depth = (await store.stats()).depth
        seqs = [m.seq for m in await store.read_after(0, 100)]
        await store.close()
        return supervisor, depth, seqs

    supervisor, depth, seqs = asyncio.run(run())
    status = supervisor.status["scale"]
    assert depth == 5
    assert seqs == [1, 2, 3, 4, 5]  # what was taken is kept
    assert status.state == PeripheralState.ERROR
    assert "outbox full" in status.detail
    assert status.readings == 5


def test_take_raises_outbox_full(tmp_path: Path) -> None:
    async def run() -> None:
        store = make(tmp_path, 1)
        store.start()
        await store.take(message(0))
        with pytest.raises(OutboxFull):
            await store.take(message(1))
        await store.close()

    asyncio.run(run())
