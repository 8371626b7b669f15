"""Fleet push benchmark: config layers and a content bundle to many simulated devices; JSON.

    .venv/bin/python bench/fleet_push.py [--devices 500] [--content-devices 50]
        [--bundle-mb 20] [--workers 4] [--state-dir DIR] [--quick]

A throw-away fleet made by the provisioning code (``init_fleet``; ``enrol_device`` for every
device: its own key, certificate and bundle; one ACL entry each) and a real mosquitto with the
generated configuration (mTLS, ACLs). Devices are enrolled in sites of ``--content-devices``
each; the site layer goes to the first site, the content bundle to the second.

Simulated devices: ``--workers`` processes, each one asyncio loop driving many devices. Each
device is the agent's own wiring (agent/service.py) without peripherals and outbox: its own
``MqttLink`` (paho on the loop) with its own client certificate, subscribed to its fleet, site
and device config and content topics; ``LayerStore`` + ``ConfigApplier`` (offer, apply live,
health check, commit) publishing the retained ``config/reported`` as the agent does, and
``ContentStore`` + ``ContentSync`` (manifest, wanted blobs fetched in device.yaml's window,
``content/reported``). State is in each bundle's own ``state/`` folder (fsyncs included).

Measured, CLOCK_MONOTONIC (shared by every process on Linux):

- config: a site layer, then a fleet layer, pushed with the console's own
  ``fleet.config_push.push(wait_s=...)``. Time from the layer's ``issued_at`` (taken just
  before it is signed and published; wall clock mapped to the monotonic clock) to each
  device's ``applied`` report: as the device publishes it, and as a console-side observer
  (a process of its own, console certificate) receives it; the target is judged on the
  latter. Baseline in the same run: as many bare subscribers (``MqttLink``, the same
  certificates and worker loops, no signature check, no apply) receiving the same pushes.
- content: ``fleet.content_push.push(wait_s=...)`` of a bundle (10 files of random bytes) to
  the content site; time from the manifest's ``issued_at`` to each device's ``applied``, and
  throughput. Baselines: one bare client fetching the same retained chunks (same window),
  and as many bare clients as devices fetching at once.

Target (issue): p99 <= 2 s from push to applied for the config layers, on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml

from healthhub.agent.config import DeviceConfig, load_config
from healthhub.agent.config_apply import ConfigApplier
from healthhub.agent.content_sync import ContentSync
from healthhub.agent.desired_config import LayerStore
from healthhub.agent.mqtt_link import Incoming, LinkError, MqttLink
from healthhub.agent.peripherals import PeripheralSupervisor
from healthhub.agent.service import MAX_INFLIGHT
from healthhub.drivers.base import DriverReading
from healthhub.fleet import config_push, content_push
from healthhub.fleet.console_session import ConsoleSession
from healthhub.fleet.practice_client import connect, practice_client
from healthhub.protocol import canonical, content, topics
from healthhub.protocol.clock import now_utc, parse_utc
from healthhub.protocol.config_layers import Scope
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.keys import read_key
from healthhub.protocol.tls import client_context
from healthhub.provisioning.broker_config import write_broker_config
from healthhub.provisioning.broker_process import BrokerProcess
from healthhub.provisioning.enrolment import enrol_device
from healthhub.provisioning.fleet import init_fleet

P99_TARGET_S = 2.0
SITE_SETTINGS: dict[str, Any] = {"ui": {"idle_timeout_s": 120, "languages": ["en", "ur", "pa"]}}
FLEET_SETTINGS: dict[str, Any] = {"ui": {"warning_s": 40}, "telemetry": {"interval_s": 60}}
CONTENT_FILES = 10
#: TLS connects in flight per worker (mosquitto's listen backlog is small).
CONNECTS_AT_ONCE = 8
CALL_TIMEOUT_S = 600.0
PUSH_WAIT_S = 120.0
CONTENT_WAIT_S = 600.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class DeviceSpec:
    device: str
    site: str
    config: str  # the bundle's device.yaml


class BenchError(Exception):
    pass


# -- the worker side: many devices on one loop ------------------------------------------------


async def _connect(
    client_id: str,
    config: DeviceConfig,
    gate: asyncio.Semaphore,
    on_message: Any,
    tls: Any = None,
) -> MqttLink:
    """One MqttLink, connected (a few attempts: a connect storm may be refused once)."""
    settings = config.broker
    if tls is None:
        tls = client_context(settings.ca_file, settings.cert_file, settings.key_file)
    for attempt in range(5):
        async with gate:
            link = MqttLink(
                client_id=client_id,
                host=settings.host,
                port=settings.port,
                tls=tls,
                keepalive_s=settings.keepalive_s,
                max_inflight=MAX_INFLIGHT,
                on_message=on_message,
            )
            try:
                await link.connect()
                return link
            except LinkError:
                link.abort("retry")
                if attempt == 4:
                    raise
        await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


class SimDevice:
    """One device: the agent's remote-config and content wiring on its own link."""

    def __init__(self, spec: DeviceSpec) -> None:
        config_path = Path(spec.config)
        self.device = spec.device
        self.config = load_config(config_path)
        local = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        self.config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        verify_key = read_key(self.config.trust.signing_public_key_file)
        self.layers = LayerStore(
            config_path,
            local,
            self.config.state_dir,
            verify_key,
            device=spec.device,
            site=spec.site,
        )
        self.config = self.layers.effective()
        self.peripherals = PeripheralSupervisor([], self._no_reading)
        self.applier = ConfigApplier(
            self.layers,
            self.peripherals,
            current=lambda: self.config,
            apply=self._apply,
            report=self._config_changed,
        )
        self.content = ContentSync.for_device(self.config, verify_key, report=self._content_changed)
        self.link: MqttLink | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.layer_received: dict[str, float] = {}
        self.manifest_received: dict[str, float] = {}
        self.config_applied: dict[tuple[str, int], float] = {}
        self.content_applied: dict[tuple[str, int], float] = {}

    async def _no_reading(self, peripheral: str, reading: DriverReading) -> None:
        raise AssertionError("a simulated device has no peripherals")

    async def start(self, gate: asyncio.Semaphore) -> None:
        """Connect and subscribe as Agent._connect_once does, then run the two workers."""
        link = await _connect(self.device, self.config, gate, self._on_message)
        self.link = link
        self.content.link_up(link)
        for topic in self.content.topics():
            await link.subscribe(topic, qos=1)
        link.publish(topics.content_reported(self.device), self._content_reported(), retain=True)
        for scope in self.layers.scopes.values():
            await link.subscribe(scope.topic(), qos=1)
        link.publish(topics.config_reported(self.device), self._config_reported(), retain=True)
        loop = asyncio.get_running_loop()
        self.tasks = [
            loop.create_task(self.applier.run(), name=f"{self.device}:config"),
            loop.create_task(self.content.run(), name=f"{self.device}:content"),
        ]

    def _on_message(self, message: Incoming) -> None:
        level = self.layers.level_of(message.topic)
        if level is not None:
            if message.payload:
                self.layer_received[level] = time.monotonic()
            self.applier.received(level, message.payload)
            return
        manifest_level = self.content.store.level_of(message.topic)
        if manifest_level is not None and message.payload:
            self.manifest_received[manifest_level] = time.monotonic()
        if not self.content.received(message):
            logging.warning("%s: message on unexpected topic %s", self.device, message.topic)

    # As Agent._apply, without a UI or peripherals to tell.
    def _apply(self, config: DeviceConfig) -> None:
        self.config = config
        specs = [p.spec() for p in config.peripherals]
        if specs != self.peripherals.specs:
            self.peripherals.reconfigure(specs)

    # As Agent._config_changed / _content_changed (without the local status file).
    def _config_changed(self) -> None:
        self._publish(topics.config_reported(self.device), self._config_reported())
        now = time.monotonic()
        for level, report in self.layers.reports.items():
            if report.state == "applied" and report.version is not None:
                self.config_applied.setdefault((level, report.version), now)

    def _content_changed(self) -> None:
        self._publish(topics.content_reported(self.device), self._content_reported())
        now = time.monotonic()
        for level, report in self.content.store.reports.items():
            if report.state == "applied" and report.version is not None:
                self.content_applied.setdefault((level, report.version), now)

    def _publish(self, topic: str, payload: bytes) -> None:
        link = self.link
        if link is not None and not link.closed.is_set():
            try:
                link.publish(topic, payload, retain=True)
            except LinkError as exc:
                logging.warning("%s: report not sent: %s", self.device, exc)

    def _config_reported(self) -> bytes:
        return canonical.dumps(
            {"device": self.device, "at": now_utc(), "layers": self.layers.reported()}
        )

    def _content_reported(self) -> bytes:
        return canonical.dumps(
            {"device": self.device, "at": now_utc(), **self.content.store.reported()}
        )

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.link is not None:
            await self.link.disconnect()


class RawClient:
    """A bare subscriber with a device's certificate: stamps arrivals, checks and keeps nothing.
    In fetch mode it takes ``chunk_topics`` through the same window as ContentSync."""

    def __init__(self, spec: DeviceSpec, suffix: str, subscriptions: list[str]) -> None:
        self.client_id = f"{spec.device}-{suffix}"
        self.config = load_config(Path(spec.config))
        self.subscriptions = subscriptions
        self.link: MqttLink | None = None
        self.got: dict[str, float] = {}
        self.arrived = asyncio.Event()
        # fetch mode
        self.chunk_topics: list[str] = []
        self.pending: set[str] = set()
        self.slots = asyncio.Semaphore(1)
        self.received = 0
        self.bytes = 0
        self.done_at: float | None = None
        self.done = asyncio.Event()

    async def start(self, gate: asyncio.Semaphore) -> None:
        self.link = await _connect(self.client_id, self.config, gate, self._on_message)
        for topic in self.subscriptions:
            await self.link.subscribe(topic, qos=1)

    def _on_message(self, message: Incoming) -> None:
        if not message.payload:
            return
        if message.topic in self.pending:
            self.pending.discard(message.topic)
            assert self.link is not None
            self.link.unsubscribe(message.topic)
            self.received += 1
            self.bytes += len(message.payload)
            self.slots.release()
            if self.received == len(self.chunk_topics):
                self.done_at = time.monotonic()
                self.done.set()
            return
        self.got.setdefault(message.topic, time.monotonic())
        self.arrived.set()

    async def fetch(self, chunk_topics: list[str], window: int) -> None:
        assert self.link is not None
        self.chunk_topics = chunk_topics
        self.slots = asyncio.Semaphore(window)
        for topic in chunk_topics:
            await self.slots.acquire()
            self.pending.add(topic)
            await self.link.subscribe(topic, qos=1)
        await self.done.wait()

    async def close(self) -> None:
        if self.link is not None:
            await self.link.disconnect()


class Worker:
    """Serves the parent's requests (one pipe) on its event loop."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.devices: dict[str, SimDevice] = {}
        self.raw: list[RawClient] = []
        self.fetchers: list[RawClient] = []
        self.gate = asyncio.Semaphore(CONNECTS_AT_ONCE)
        self.stopping = asyncio.Event()
        self.requests: set[asyncio.Task[None]] = set()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.conn.fileno(), self._readable)
        try:
            await self.stopping.wait()
        finally:
            loop.remove_reader(self.conn.fileno())
            for task in self.requests:
                task.cancel()
            clients: list[SimDevice | RawClient] = [
                *self.devices.values(),
                *self.raw,
                *self.fetchers,
            ]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(c.close() for c in clients), return_exceptions=True), 20
                )

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                op, args = self.conn.recv()
                if op == "stop":
                    self.stopping.set()
                    return
                task = asyncio.get_running_loop().create_task(self._handle(op, args))
                self.requests.add(task)
                task.add_done_callback(self.requests.discard)
        except (EOFError, OSError):  # the parent is gone
            self.stopping.set()

    async def _handle(self, op: str, args: Any) -> None:
        handler = getattr(self, f"op_{op}")
        try:
            reply: tuple[bool, Any] = (True, await handler(*args))
        except Exception:
            reply = (False, traceback.format_exc())
        with contextlib.suppress(OSError):
            self.conn.send(reply)

    async def op_devices(self, specs: list[DeviceSpec]) -> int:
        made = [SimDevice(spec) for spec in specs]
        await asyncio.gather(*(device.start(self.gate) for device in made))
        self.devices.update({device.device: device for device in made})
        return len(made)

    async def op_config_times(self, level: str, version: int) -> dict[str, list[float | None]]:
        return {
            name: [device.layer_received.get(level), device.config_applied.get((level, version))]
            for name, device in self.devices.items()
        }

    async def op_content_times(self, level: str, version: int) -> dict[str, list[float | None]]:
        return {
            name: [
                device.manifest_received.get(level),
                device.content_applied.get((level, version)),
            ]
            for name, device in self.devices.items()
            if (level, version) in device.content_applied or level in device.manifest_received
        }

    async def op_raw_subscribe(self, wanted: list[tuple[DeviceSpec, list[str]]]) -> int:
        made = [RawClient(spec, "raw", subscriptions) for spec, subscriptions in wanted]
        await asyncio.gather(*(client.start(self.gate) for client in made))
        self.raw.extend(made)
        return len(made)

    async def op_raw_times(self, topic: str, timeout_s: float) -> dict[str, float | None]:
        clients = [c for c in self.raw if topic in c.subscriptions]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(topic not in c.got for c in clients):
            await asyncio.sleep(0.05)
        return {c.client_id: c.got.get(topic) for c in clients}

    async def op_raw_close(self) -> None:
        await asyncio.gather(*(client.close() for client in self.raw))
        self.raw = []

    async def op_fetch_connect(self, specs: list[DeviceSpec], suffix: str) -> int:
        made = [RawClient(spec, suffix, []) for spec in specs]
        await asyncio.gather(*(client.start(self.gate) for client in made))
        self.fetchers = made
        return len(made)

    async def op_fetch_go(
        self, chunk_topics: list[str], window: int, timeout_s: float
    ) -> dict[str, list[float | int | None]]:
        fetches = [client.fetch(chunk_topics, window) for client in self.fetchers]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*fetches), timeout_s)
        result: dict[str, list[float | int | None]] = {
            client.client_id: [client.done_at, client.bytes] for client in self.fetchers
        }
        await asyncio.gather(*(client.close() for client in self.fetchers))
        self.fetchers = []
        return result


def worker_main(conn: Connection, index: int) -> None:
    """A worker process: the parent orchestrates Ctrl-C, so the worker ignores SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.WARNING, format=f"fleet_push worker {index}: %(levelname)s %(message)s"
    )
    asyncio.run(Worker(conn).serve())


# -- the parent side -----------------------------------------------------------------------


class WorkerPool:
    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")  # no paho threads forked mid-flight
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.conns: list[Connection] = []
        for index in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=worker_main, args=(theirs, index), name=f"fleet-push-{index}", daemon=True
            )
            process.start()
            theirs.close()
            self.processes.append(process)
            self.conns.append(ours)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def call(self, op: str, per_worker: list[tuple[Any, ...]]) -> list[Any]:
        """Send ``op`` to every worker (its own arguments each) and wait for every answer."""
        for conn, args in zip(self.conns, per_worker, strict=True):
            conn.send((op, args))
        deadline = time.monotonic() + CALL_TIMEOUT_S
        answers = []
        for index, conn in enumerate(self.conns):
            while not conn.poll(0.2):
                if not self.processes[index].is_alive():
                    raise BenchError(f"worker {index} died during {op}")
                if time.monotonic() > deadline:
                    raise BenchError(f"worker {index} did not answer {op} in {CALL_TIMEOUT_S} s")
            ok, answer = conn.recv()
            if not ok:
                raise BenchError(f"worker {index} failed {op}:\n{answer}")
            answers.append(answer)
        return answers

    def merged(self, op: str, per_worker: list[tuple[Any, ...]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for answer in self.call(op, per_worker):
            found.update(answer)
        return found

    def same(self, *args: Any) -> list[tuple[Any, ...]]:
        return [args] * len(self.conns)

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send(("stop", ()))
        for process in self.processes:
            process.join(30)
            if process.is_alive():
                process.terminate()
                process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
        for conn in self.conns:
            conn.close()


class Watcher:
    """The console's view: when each device's ``config/reported`` and ``content/reported``
    arrive (console certificate, paho's own network thread). It runs in a process of its
    own (:class:`Observer`), so the console's work in ``push()`` (same GIL) cannot delay
    its time stamps; the callback only stamps and keeps, reports are parsed when asked."""

    def __init__(self, layout: FleetLayout) -> None:
        self.lock = threading.Lock()
        self.arrived: list[tuple[float, str, bytes]] = []
        self.parsed = 0
        self.reports: dict[tuple[str, str], list[tuple[float, dict[str, Any]]]] = defaultdict(list)
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.client = practice_client(
            layout, "console", client_id=f"{topics.CONSOLE_IDENTITY}-bench-observer"
        )
        self.client.on_connect = lambda *a: self._connected.set()
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        connect(self.client, layout)
        self.client.loop_start()
        if not self._connected.wait(15):
            raise BenchError("the observer could not connect to the broker")
        self.client.subscribe(
            [
                (f"{topics.ROOT}/devices/+/config/reported", 1),
                (f"{topics.ROOT}/devices/+/content/reported", 1),
            ]
        )
        if not self._subscribed.wait(15):
            raise BenchError("the observer's subscription was not answered")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        at = time.monotonic()
        with self.lock:
            self.arrived.append((at, message.topic, bytes(message.payload)))

    def _parse(self) -> None:
        with self.lock:
            new, self.parsed = self.arrived[self.parsed :], len(self.arrived)
        for at, topic, payload in new:
            kind = "config" if topic.endswith("/config/reported") else "content"
            try:
                report = json.loads(payload)
                device, layers = str(report["device"]), dict(report["layers"])
            except (ValueError, KeyError, TypeError):
                continue
            self.reports[(device, kind)].append((at, layers))

    def applied(
        self, kind: str, level: str, version: int, devices: Iterable[str]
    ) -> dict[str, float]:
        """When the first report holding ``version`` at ``level`` arrived, by device."""
        self._parse()
        found: dict[str, float] = {}
        for device in devices:
            for at, layers in self.reports.get((device, kind), []):
                entry = layers.get(level)
                if isinstance(entry, dict) and entry.get("held") == version:
                    found[device] = at
                    break
        return found

    def wait_applied(
        self, kind: str, level: str, version: int, devices: list[str], timeout_s: float
    ) -> dict[str, float]:
        deadline = time.monotonic() + timeout_s
        found = self.applied(kind, level, version, devices)
        while len(found) < len(devices) and time.monotonic() < deadline:
            time.sleep(0.05)
            found = self.applied(kind, level, version, devices)
        return found

    def close(self) -> None:
        self.client.loop_stop()
        with contextlib.suppress(Exception):
            self.client.disconnect()


def observer_main(conn: Connection, fleet_root: str) -> None:
    """The observer process: a :class:`Watcher`, answering the parent's questions."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        watcher = Watcher(FleetLayout(Path(fleet_root)))
    except Exception:
        conn.send((False, traceback.format_exc()))
        return
    conn.send((True, None))
    try:
        while True:
            try:
                op, args = conn.recv()
            except (EOFError, OSError):
                return
            if op == "stop":
                return
            try:
                reply: tuple[bool, Any] = (True, watcher.wait_applied(*args))
            except Exception:
                reply = (False, traceback.format_exc())
            conn.send(reply)
    finally:
        watcher.close()


class Observer:
    """The parent's handle on the observer process."""

    def __init__(self, layout: FleetLayout) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.process = context.Process(
            target=observer_main,
            args=(theirs, str(layout.root)),
            name="fleet-push-observer",
            daemon=True,
        )
        self.process.start()
        theirs.close()
        self._answer("start")

    def _answer(self, what: str) -> Any:
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while not self.conn.poll(0.2):
            if not self.process.is_alive():
                raise BenchError(f"the observer died ({what})")
            if time.monotonic() > deadline:
                raise BenchError(f"the observer did not answer ({what})")
        ok, answer = self.conn.recv()
        if not ok:
            raise BenchError(f"the observer failed ({what}):\n{answer}")
        return answer

    def wait_applied(
        self, kind: str, level: str, version: int, devices: list[str], timeout_s: float
    ) -> dict[str, float]:
        self.conn.send(("wait_applied", (kind, level, version, devices, timeout_s)))
        found: dict[str, float] = self._answer(f"{kind} {level} {version}")
        return found

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(("stop", ()))
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def summary(values: list[float]) -> dict[str, Any]:
    """Count, p50, p99 (nearest rank) and max, in seconds."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]

    return {
        "n": len(ordered),
        "p50_s": round(rank(0.50), 3),
        "p99_s": round(rank(0.99), 3),
        "max_s": round(ordered[-1], 3),
    }


def monotonic_of(stamp: str) -> float:
    """A wire time stamp (wall clock, ms) on this machine's monotonic clock."""
    offset = time.time() - time.monotonic()
    return parse_utc(stamp).timestamp() - offset


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds spent by the broker, the device workers, the console (this process:
    ``push()`` and the bench) and the observer during a phase."""

    def __init__(self, broker: int, workers: list[int], observer: int) -> None:
        self.broker, self.workers, self.observer = broker, workers, observer
        self.start = self._now()

    def _now(self) -> tuple[float, float, float, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return (
            cpu_seconds(self.broker),
            sum(cpu_seconds(pid) for pid in self.workers),
            own.ru_utime + own.ru_stime,
            cpu_seconds(self.observer),
        )

    def spent(self) -> dict[str, float]:
        end = self._now()
        names = ("mosquitto", "device_workers", "console_push_and_bench", "observer")
        return {n: round(b - a, 2) for n, a, b in zip(names, self.start, end, strict=True)}


def console_publish(layout: FleetLayout, messages: list[tuple[str, bytes]]) -> None:
    """Retained publishes with the console's certificate (an empty one clears a topic)."""
    session = ConsoleSession(layout, "bench")
    try:
        for topic, payload in messages:
            info = session.client.publish(topic, payload, qos=1, retain=True)
            info.wait_for_publish(15)
            if not info.is_published():
                raise BenchError(f"the broker did not take a publish on {topic}")
    finally:
        session.close()


def raise_file_limit(needed: int) -> int:
    """Every device is a socket in mosquitto and in a worker: raise RLIMIT_NOFILE (soft) if
    it is below ``needed``; mosquitto and the workers inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise BenchError(f"RLIMIT_NOFILE is {soft} (hard {hard}); {needed} are needed")
    return int(soft)


def check_broker_limits(conf: Path, needed: int) -> None:
    """mosquitto's max_connections (default -1: unlimited) must let every client in."""
    for line in conf.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "max_connections" and 0 <= int(words[1]) < needed:
            raise BenchError(f"{conf} allows {words[1]} connections; the bench needs {needed}")


def enrol_fleet(
    root: Path, devices: int, site_size: int
) -> tuple[FleetLayout, list[DeviceSpec], float]:
    started = time.monotonic()
    layout = init_fleet(
        root / "fleet", name="Bench PCN", broker_host="localhost", broker_port=free_port()
    )
    specs = []
    for index in range(devices):
        device = f"unit-{index:04d}"
        site = f"practice-{index // site_size + 1:02d}"
        path = enrol_device(layout, device=device, site=site, role="wall", simulate=False)
        specs.append(DeviceSpec(device, site, str(path)))
    write_broker_config(layout, bind="127.0.0.1")  # the ACL: one entry per device
    return layout, specs, time.monotonic() - started


def by_worker(items: list[Any], workers: int) -> list[list[Any]]:
    """Round-robin, so every worker holds devices of every site."""
    return [items[index::workers] for index in range(workers)]


def raw_config_baseline(
    layout: FleetLayout, pool: WorkerPool, specs: list[DeviceSpec], site: str, workers: int
) -> dict[str, Any]:
    """Bare subscribers on the same topics; the same two pushes (no wait); then cleared."""
    wanted = [(spec, [topics.FLEET_CONFIG, topics.site_config(spec.site)]) for spec in specs]
    pool.call("raw_subscribe", [(part,) for part in by_worker(wanted, workers)])
    figures: dict[str, Any] = {}
    for name, scope, settings in (
        ("site", Scope("site", site), SITE_SETTINGS),
        ("fleet", Scope("fleet"), FLEET_SETTINGS),
    ):
        outcome = config_push.push(layout, scope, settings)  # publish only
        t0 = monotonic_of(outcome.pushed_at)
        got = pool.merged("raw_times", pool.same(scope.topic(), 60.0))
        delivered = [at - t0 for at in got.values() if at is not None]
        figures[f"{name}_layer"] = {
            "subscribers": len(got),
            "received": len(delivered),
            "delivery": summary(delivered),
        }
    pool.call("raw_close", pool.same())
    # The devices must not find the baseline's layers retained when they connect.
    console_publish(layout, [(Scope("site", site).topic(), b""), (topics.FLEET_CONFIG, b"")])
    return figures


def config_phase(
    layout: FleetLayout,
    pool: WorkerPool,
    observer: Observer,
    *,
    scope: Scope,
    settings: dict[str, Any],
    broker_pid: int,
) -> dict[str, Any]:
    """One layer pushed by the console (``config_push.push(wait_s=...)``) and timed."""
    meter = CpuMeter(broker_pid, pool.pids, observer.pid)
    called = time.monotonic()
    outcome = config_push.push(layout, scope, settings, wait_s=PUSH_WAIT_S)
    returned = time.monotonic()
    cpu = meter.spent()
    t0 = monotonic_of(outcome.pushed_at)
    targets = outcome.targets
    at_console = observer.wait_applied("config", scope.level, outcome.version, targets, 10.0)
    device_side = pool.merged("config_times", pool.same(scope.level, outcome.version))
    received = [device_side[d][0] - t0 for d in targets if device_side.get(d, [None])[0]]
    applied = [device_side[d][1] - t0 for d in targets if device_side.get(d, [None, None])[1]]
    apply_only = [
        device_side[d][1] - device_side[d][0]
        for d in targets
        if device_side.get(d) and None not in device_side[d]
    ]
    observed = [at - t0 for at in at_console.values()]
    return {
        "scope": str(scope),
        "version": outcome.version,
        "targets": len(targets),
        "applied": len(outcome.applied),
        "rejected": len(outcome.rejected),
        "rejected_sample": dict(list(outcome.rejected.items())[:3]),
        "pending": len(outcome.pending),
        "layer_received_at_device": summary(received),
        "applied_at_device": summary(applied),
        "applied_report_at_console": summary(observed),
        "receive_to_applied_at_device": summary(apply_only),
        "time_to_100pct_applied_s": (
            round(max(observed), 3) if len(observed) == len(targets) and observed else None
        ),
        "console_push_call_s": round(returned - called, 3),
        "console_push_returned_after_issue_s": round(returned - t0, 3),
        "cpu_seconds": cpu,
    }


def write_bundle(folder: Path, total_bytes: int) -> None:
    folder.mkdir()
    each = total_bytes // CONTENT_FILES
    for index in range(CONTENT_FILES):
        size = each + (total_bytes - each * CONTENT_FILES if index == 0 else 0)
        (folder / f"leaflet-{index:02d}.bin").write_bytes(os.urandom(size))


def content_phase(
    layout: FleetLayout,
    pool: WorkerPool,
    observer: Observer,
    *,
    specs: list[DeviceSpec],
    site: str,
    folder: Path,
    workers: int,
    broker_pid: int,
) -> dict[str, Any]:
    entries = content.scan_folder(folder)
    chunk_topics = list(
        dict.fromkeys(
            topics.content_blob(sha) for file, _ in entries for sha in file.chunks if file.size
        )
    )
    bundle_bytes = sum(file.size for file, _ in entries)
    devices = [spec for spec in specs if spec.site == site]
    window = load_config(Path(devices[0].config)).content.fetch_window
    scope = Scope("site", site)

    meter = CpuMeter(broker_pid, pool.pids, observer.pid)
    called = time.monotonic()
    outcome = content_push.push(layout, scope, folder, wait_s=CONTENT_WAIT_S)
    returned = time.monotonic()
    cpu = meter.spent()
    t0 = monotonic_of(outcome.pushed_at)  # the manifest's issued_at: after the blobs
    targets = outcome.targets
    at_console = observer.wait_applied("content", scope.level, outcome.version, targets, 10.0)
    device_side = pool.merged("content_times", pool.same(scope.level, outcome.version))
    applied = [device_side[d][1] - t0 for d in targets if device_side.get(d, [None, None])[1]]
    observed = [at - t0 for at in at_console.values()]
    whole = max(observed) if len(observed) == len(targets) and observed else None

    # Baselines on the same retained chunks: one bare client, then one per device at once.
    baselines: dict[str, Any] = {}
    for name, fetchers in (
        ("one_raw_client", devices[:1]),
        ("raw_clients_at_once", devices),
    ):
        parts = by_worker(fetchers, workers)
        pool.call("fetch_connect", [(part, "fetch") for part in parts])
        started = time.monotonic()
        done = pool.merged("fetch_go", pool.same(chunk_topics, window, CONTENT_WAIT_S))
        took = [at - started for at, _ in done.values() if at is not None]
        moved = sum(int(size) for _, size in done.values())
        last = max(took) if len(took) == len(fetchers) and took else None
        baselines[name] = {
            "clients": len(fetchers),
            "completed": len(took),
            "fetch": summary(took),
            "aggregate_mib_per_s": round(moved / 2**20 / last, 1) if last else None,
        }
    return {
        "scope": str(scope),
        "version": outcome.version,
        "targets": len(targets),
        "files": len(entries),
        "bundle_mib": round(bundle_bytes / 2**20, 2),
        "chunks": len(chunk_topics),
        "window": window,
        "applied": len(outcome.applied),
        "rejected": len(outcome.rejected),
        "rejected_sample": dict(list(outcome.rejected.items())[:3]),
        "pending": len(outcome.pending),
        "console_push_call_to_manifest_s": round(t0 - called, 3),
        "applied_at_device_after_manifest": summary(applied),
        "applied_report_at_console_after_manifest": summary(observed),
        "time_to_100pct_applied_after_manifest_s": round(whole, 3) if whole else None,
        "time_to_100pct_applied_from_push_call_s": round(t0 + whole - called, 3) if whole else None,
        "aggregate_mib_per_s": round(len(observed) * bundle_bytes / 2**20 / whole, 1)
        if whole
        else None,
        "console_push_call_s": round(returned - called, 3),
        "cpu_seconds": cpu,
        "baseline": baselines,
    }


def run(args: argparse.Namespace, root: Path, cleanup: list[Any]) -> dict[str, Any]:
    site_size = args.content_devices
    layout, specs, enrol_s = enrol_fleet(root, args.devices, site_size)
    sites = sorted({spec.site for spec in specs})
    config_site = sites[0]
    content_site = sites[1] if len(sites) > 1 else sites[0]
    files_needed = 4 * args.devices + 1024
    nofile = raise_file_limit(files_needed)
    check_broker_limits(layout.broker_conf, 2 * args.devices + 16)

    broker = BrokerProcess(layout, log_path=root / "mosquitto.log")
    cleanup.append(broker.stop)
    broker.start()
    broker_pid = broker.pid or 0
    pool = WorkerPool(args.workers)
    cleanup.append(pool.close)
    observer = Observer(layout)
    cleanup.append(observer.close)

    started = time.monotonic()
    baseline = raw_config_baseline(layout, pool, specs, config_site, args.workers)
    baseline_s = time.monotonic() - started

    started = time.monotonic()
    pool.call("devices", [(part,) for part in by_worker(specs, args.workers)])
    connect_s = time.monotonic() - started
    time.sleep(1.0)  # the devices' first reports settle before the first push

    site_push = config_phase(
        layout,
        pool,
        observer,
        scope=Scope("site", config_site),
        settings=SITE_SETTINGS,
        broker_pid=broker_pid,
    )
    fleet_push = config_phase(
        layout,
        pool,
        observer,
        scope=Scope("fleet"),
        settings=FLEET_SETTINGS,
        broker_pid=broker_pid,
    )
    folder = root / "bundle"
    write_bundle(folder, int(args.bundle_mb * 2**20))
    content_figures = content_phase(
        layout,
        pool,
        observer,
        specs=specs,
        site=content_site,
        folder=folder,
        workers=args.workers,
        broker_pid=broker_pid,
    )

    def p99(figures: dict[str, Any]) -> float | None:
        value = figures["applied_report_at_console"].get("p99_s")
        return float(value) if value is not None else None

    met = all(
        figures["applied"] == figures["targets"] and (p99(figures) or math.inf) <= P99_TARGET_S
        for figures in (site_push, fleet_push)
    )
    return {
        "bench": "fleet_push",
        "machine": {
            "cores": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in args.load_at_start],
            "rlimit_nofile": nofile,
            "state_dir": str(root),
        },
        "devices": args.devices,
        "sites": len(sites),
        "site_size": site_size,
        "workers": args.workers,
        "devices_per_worker": math.ceil(args.devices / args.workers),
        "setup_s": {
            "enrol_all": round(enrol_s, 2),
            "raw_baseline_phase": round(baseline_s, 2),
            "devices_connect_and_subscribe": round(connect_s, 2),
        },
        "config": {
            "measured_from": "layer issued_at (just before signing and publish)",
            "baseline_raw_delivery": baseline,
            "site_push": site_push,
            "fleet_push": fleet_push,
        },
        "content": content_figures,
        "p99_target_s": P99_TARGET_S,
        "p99_measure": "config applied_report_at_console, site and fleet push",
        "p99_s": {"site_push": p99(site_push), "fleet_push": p99(fleet_push)},
        "met": met,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument(
        "--content-devices",
        type=int,
        default=50,
        help="devices that get the content bundle; also the size of each site",
    )
    parser.add_argument("--bundle-mb", type=float, default=20.0, help="MiB, in 10 files")
    parser.add_argument("--workers", type=int, default=4, help="device worker processes")
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="where the fleet and device state go"
    )
    parser.add_argument("--quick", action="store_true", help="20 devices, 5 content, 2 MiB")
    args = parser.parse_args()
    if args.quick:
        args.devices, args.content_devices, args.bundle_mb = 20, 5, 2.0
        args.workers = min(args.workers, 2)
    if not 1 <= args.content_devices <= args.devices or args.workers < 1:
        parser.error("need 1 <= --content-devices <= --devices and --workers >= 1")
    args.load_at_start = os.getloadavg()

    def terminated(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    root = Path(tempfile.mkdtemp(prefix="healthhub-bench-fleet-", dir=args.state_dir))
    cleanup: list[Any] = []
    try:
        figures = run(args, root, cleanup)
    finally:
        for step in reversed(cleanup):
            try:
                step()
            except Exception as exc:  # clean up the rest whatever happens
                print(f"fleet_push: clean-up step failed: {exc}", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    complete = (
        figures["config"]["site_push"]["pending"] == 0
        and figures["config"]["fleet_push"]["pending"] == 0
        and figures["content"]["pending"] == 0
    )
    return 0 if complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
