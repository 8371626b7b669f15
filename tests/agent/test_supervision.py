"""The supervisor as drivers see it: battery, signals and the link state reach the agent."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from healthhub.agent.peripherals import PeripheralSupervisor
from healthhub.drivers.base import Peripheral, PeripheralSpec, ReadingSink, Signal


class LinkWatcher(Peripheral):
    """A peripheral that only records the link states it is shown."""

    def __init__(self, spec: PeripheralSpec, *, broken: bool = False) -> None:
        super().__init__(spec)
        self.shown: list[str] = []
        self.broken = broken

    def show_link(self, state: str) -> None:
        if self.broken:
            raise RuntimeError("LED driver defect")
        self.shown.append(state)

    async def run(self, sink: ReadingSink) -> None:
        await asyncio.Event().wait()


def supervisor(*names: str) -> tuple[PeripheralSupervisor, list[tuple[str, str, dict[str, Any]]]]:
    events: list[tuple[str, str, dict[str, Any]]] = []

    async def take(name: str, reading: object) -> None:
        raise AssertionError("no readings expected")

    specs = [PeripheralSpec(n, "status_led", "simulator") for n in names]
    sup = PeripheralSupervisor(specs, take, notify=lambda p, e, d: events.append((p, e, d)))
    return sup, events


def test_battery_is_reported_clamped_and_only_when_it_changes() -> None:
    sup, events = supervisor("bp")
    sup.battery("bp", 80)
    sup.battery("bp", 80)
    sup.battery("bp", 140)
    assert [d["battery"] for _, e, d in events if e == "peripheral"] == [80, 100]
    assert sup.to_json()["bp"]["battery"] == 100


def test_a_scanned_code_reaches_the_agent_but_never_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sup, events = supervisor("scanner")
    with caplog.at_level(logging.DEBUG):
        sup.signal("scanner", Signal.SCANNED, "9434765919")
    assert events == [
        ("scanner", "signal", {"name": "scanner", "signal": "scanned", "text": "9434765919"})
    ]
    assert "9434765919" not in caplog.text
    assert sup.to_json()["scanner"]["signals"] == 1


def test_link_state_reaches_running_and_later_peripherals_and_a_defect_stops_none() -> None:
    sup, _ = supervisor("led", "bad", "late")
    led = LinkWatcher(PeripheralSpec("led", "status_led", "simulator"))
    bad = LinkWatcher(PeripheralSpec("bad", "status_led", "simulator"), broken=True)
    sup.instances.update(led=led, bad=bad)
    sup.show_link("connected")
    sup.show_link("disconnected")
    assert led.shown == ["connected", "disconnected"]
    late = LinkWatcher(PeripheralSpec("late", "status_led", "simulator"))
    sup.instances["late"] = late
    sup._show_link("late", late)  # what _supervise does when it creates a peripheral
    assert late.shown == ["disconnected"]


def test_new_peripherals_replace_the_old_without_stopping_the_supervisor() -> None:
    """A config layer that changes the peripherals: the old ones stop, the new ones start,
    and an unchanged one keeps its counters."""
    taken: list[str] = []

    async def take(name: str, reading: object) -> None:
        taken.append(name)

    def sim(name: str, driver: str) -> PeripheralSpec:
        return PeripheralSpec(name, driver, "simulator", {"interval_s": 0.01})

    async def scenario() -> PeripheralSupervisor:
        sup = PeripheralSupervisor([sim("bp", "blood_pressure"), sim("scale", "scale")], take)
        task = asyncio.create_task(sup.run())
        try:
            async with asyncio.timeout(20):
                while "bp" not in taken or "scale" not in taken:
                    await asyncio.sleep(0.01)
                sup.reconfigure([sim("bp", "blood_pressure"), sim("thermo", "thermometer")])
                mark = len(taken)
                while "thermo" not in taken[mark:]:
                    await asyncio.sleep(0.01)
                scales = taken.count("scale")
                await asyncio.sleep(0.2)  # 20 intervals: a running scale would have read
                assert taken.count("scale") == scales  # the scale is gone
                assert not task.done()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return sup

    sup = asyncio.run(scenario())
    assert set(sup.status) == {"bp", "thermo"}
    assert set(sup.instances) == {"bp", "thermo"}
    assert sup.status["bp"].readings >= 1  # carried over: the same declaration
