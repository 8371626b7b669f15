"""The device agent: peripherals in, durable outbox, broker link out, on one event loop.

Lifecycle: lock the state folder (one agent per device), open the outbox (a
database that cannot be opened stops the agent with a clear error and is never
touched), start the peripherals and keep taking readings whether or not the
broker is there; connect with mTLS and reconnect with backoff and jitter;
publish the retained birth, send the outbox, apply the bridge's acks; publish
telemetry; tell systemd READY once connected or degraded and ping its
watchdog from the loop; on SIGTERM publish ``offline`` and exit 0.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import logging
import os
import signal
import ssl
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

import yaml

from healthhub.agent.async_outbox import AsyncOutbox
from healthhub.agent.command_journal import JOURNAL_FILE, CommandJournal
from healthhub.agent.command_runner import CommandFailed, CommandRunner
from healthhub.agent.config import DeviceConfig
from healthhub.agent.config_apply import ConfigApplier
from healthhub.agent.content_sync import ContentSync
from healthhub.agent.delivery import Delivery
from healthhub.agent.desired_config import LayerStore
from healthhub.agent.device_actions import RESTART_EXIT_CODE, DeviceActions
from healthhub.agent.form_intake import ServedForms
from healthhub.agent.health_monitor import HealthMonitor
from healthhub.agent.identity import Identity, IdentityRejected, IdentityStore
from healthhub.agent.local_api import LocalApiServer
from healthhub.agent.log_capture import LogRing
from healthhub.agent.mqtt_link import Incoming, LinkError, MqttLink, Will
from healthhub.agent.outbox import NewMessage, Outbox, OutboxError
from healthhub.agent.page_printer import PagePrinter
from healthhub.agent.peripherals import PeripheralSupervisor
from healthhub.agent.pi_health import HealthSources
from healthhub.agent.retry_policies import broker_reconnect
from healthhub.agent.screenshots import ScreenshotRequests
from healthhub.agent.sessions import SessionDesk
from healthhub.agent.software_sync import SoftwareSync
from healthhub.agent.staff_pin import PinGuard
from healthhub.agent.systemd_notify import SystemdNotifier
from healthhub.agent.telemetry import snapshot
from healthhub.drivers.base import DriverReading, Signal
from healthhub.protocol import canonical, topics
from healthhub.protocol import local_api as api
from healthhub.protocol.clock import now_utc
from healthhub.protocol.envelope import Envelope
from healthhub.protocol.errors import HealthHubError, KeyFileError
from healthhub.protocol.files import write_atomic
from healthhub.protocol.keys import read_key
from healthhub.protocol.sealed import Sealer
from healthhub.protocol.status import OFFLINE, ONLINE, status_payload
from healthhub.protocol.tls import client_context

log = logging.getLogger(__name__)

# QoS 1 messages without a PUBACK. paho walks every in-flight message on each
# PUBACK (Client._update_inflight), so a wide window costs O(window) per ack;
# 100 keeps a loopback or LAN link full (bench/outbox_drain.py measures it).
MAX_INFLIGHT = 100
STATUS_FILE = "agent-status.json"
OUTBOX_FILE = "outbox.sqlite"
LOCK_FILE = "agent.lock"
#: Command answers kept while the broker is away (a restart's "succeeded" comes before the
#: link is up); the oldest go first beyond this.
MAX_WAITING_ANSWERS = 64
AGENT_VERSION = version("healthhub")
#: How long ``cert.install`` waits to be connected again with the renewed certificate, and
#: how many failed attempts it allows, before it puts the old one back and fails.
RECONNECT_WITH_RENEWED_S = 60.0
RENEWED_ATTEMPTS = 3


class AgentAlreadyRunning(HealthHubError):
    """Another agent holds this state folder."""


class LinkState:
    def __init__(self, on_change: Callable[[str], None] | None = None) -> None:
        self.state = "starting"
        self.since = time.time()
        self.last_error = ""
        self.outages = 0
        self.attempts = 0
        self._on_change = on_change

    def set(self, state: str, error: str = "") -> None:
        if state != self.state:
            self.state, self.since = state, time.time()
            if self._on_change is not None:
                self._on_change(state)
        if error:
            self.last_error = error

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "since_s": round(time.time() - self.since, 1),
            "last_error": self.last_error,
            "outages": self.outages,
            "connect_attempts": self.attempts,
        }


class Agent:
    def __init__(
        self,
        config: DeviceConfig,
        *,
        notifier: SystemdNotifier | None = None,
        config_path: Path | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.layers: LayerStore | None = None  # remote config layers, set in _open()
        self.remote_config: ConfigApplier | None = None
        self.device = config.device.id
        self.site = config.device.site
        self.state_dir = config.state_dir
        self.notifier = notifier or SystemdNotifier()
        self.link_state = LinkState(self._link_changed)
        self.local_api: LocalApiServer | None = None
        self._link: MqttLink | None = None
        self._ready = False
        self._stop = asyncio.Event()
        self._link_up = asyncio.Event()  # set while a link is connected (cert.install waits)
        self._connect_failures = 0
        self._started = time.monotonic()
        self._lock_handle: IO[str] | None = None
        self._specs = {p.name: p.spec() for p in config.peripherals}
        self._background: set[asyncio.Task[Any]] = set()
        self._opened = False
        self.exit_code = 0
        self._answers: collections.deque[tuple[bytes, bytes | None]] = collections.deque(
            maxlen=MAX_WAITING_ANSWERS
        )
        self.log_ring = LogRing()
        self.screenshots = ScreenshotRequests(self._publish)
        # Set in run(); typed here so the rest of the class can rely on them.
        self.store: AsyncOutbox
        self.delivery: Delivery
        self.peripherals: PeripheralSupervisor
        self.desk: SessionDesk
        self.commands: CommandRunner
        self.content: ContentSync
        self.software: SoftwareSync
        self.printer: PagePrinter | None
        self.health: HealthMonitor

    # -- start and stop -------------------------------------------------------

    def _open(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_handle = _lock(self.state_dir / LOCK_FILE)
        if self.config_path is not None:  # remote layers need the local file to merge over
            local = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
            self.layers = LayerStore(
                self.config_path,
                local,
                self.state_dir,
                read_key(self.config.trust.signing_public_key_file),
                device=self.device,
                site=self.site,
            )
            self.config = self.layers.effective()  # the local file and the layers kept
            self._specs = {p.name: p.spec() for p in self.config.peripherals}
        sealer = Sealer(read_key(self.config.trust.ingest_public_key_file))
        self.identity = IdentityStore(
            self.state_dir,
            device=self.device,
            ca_file=self.config.broker.ca_file,
            bundle_cert=self.config.broker.cert_file,
            bundle_key=self.config.broker.key_file,
        )
        self._identity, self._tls = self._usable_identity()
        outbox = Outbox(
            self.state_dir / OUTBOX_FILE,
            device=self.device,
            site=self.site,
            sealer=sealer,
            max_messages=self.config.outbox.max_messages,
        )
        self.store = AsyncOutbox(outbox)
        self.delivery = Delivery(
            self.store,
            device=self.device,
            window=self.config.outbox.window,
            resend_after_s=self.config.outbox.resend_after_s,
            max_inflight=MAX_INFLIGHT,
        )
        self.peripherals = PeripheralSupervisor(
            list(self._specs.values()), self.take_reading, notify=self._peripheral_event
        )
        self.health = HealthMonitor(
            sources=lambda: HealthSources(**self.config.health_sources.model_dump()),
            state_dir=self.state_dir,
            limits=lambda: self.config.telemetry.health,
            commit=self._commit,
            route=self._alert_route,
            certificate=lambda: self._identity.not_after,
        )
        self.desk = SessionDesk(
            take=self._commit,
            request=self.peripherals.request,
            publish=self._publish,
            hello=self._hello,
            status=self.telemetry,
            pins=PinGuard(self.config.ui.staff_pin_hash),
            route=self._alert_route,
            forms=ServedForms(lambda: self.content.store.current_dir),
        )
        if self.layers is not None:
            self.remote_config = ConfigApplier(
                self.layers,
                self.peripherals,
                current=lambda: self.config,
                apply=self._apply,
                report=self._config_changed,
            )
        verify_key = read_key(self.config.trust.signing_public_key_file)
        self.content = ContentSync.for_device(self.config, verify_key, report=self._content_changed)
        self._content_digest = self.content.store.served_digest
        self._confirmed_at_start = outbox.confirmed_seq  # the updater's health check
        self.software = SoftwareSync.for_device(
            self.config, verify_key, report=self._software_changed, health=self._software_health
        )
        self.printer = (
            None
            if self.config.printer is None
            else PagePrinter(self.config.printer, lambda: self.content.store.current_dir)
        )
        self.commands = CommandRunner(
            CommandJournal(self.state_dir / JOURNAL_FILE),
            verify_key,
            device=self.device,
            actions=DeviceActions(
                device=self.device,
                identify_peripherals=self.peripherals.identify,
                show_on_screen=self._show_identity,
                settings=lambda: self.config.commands,
                ring=self.log_ring,
                flush=self.delivery.flush_now,
                outbox_depth=self._outbox_depth,
                restart=self._restart,
                screenshot=self._screenshot,
                cert_request=self._cert_request,
                cert_install=self._cert_install,
            ),
            answer=self._command_answer,
        )
        assert self.config.local_api.socket is not None  # load_config always sets it
        self.local_api = LocalApiServer(self.config.local_api.socket, self._ui_request)
        self._opened = True

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Run until :meth:`stop` (SIGTERM, SIGINT). Raises on a start-up failure."""
        self.log_ring.install()  # for collect-logs: this agent's own lines, redacted
        try:
            await self._run()
        finally:
            self.log_ring.uninstall()

    async def _run(self) -> None:
        self._open()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        self.store.start()
        if self.local_api is not None:
            await self.local_api.start()
        stats = await self.store.stats()
        log.info(
            "agent %s (site %s) started: outbox depth %d, last seq %d, confirmed %d",
            self.device,
            self.site,
            stats.depth,
            stats.last_seq,
            stats.confirmed_seq,
        )
        tasks = [
            loop.create_task(self.peripherals.run(), name="peripherals"),
            loop.create_task(self._link_forever(), name="link"),
            loop.create_task(self._telemetry_forever(), name="telemetry"),
            loop.create_task(self._watchdog_forever(), name="watchdog"),
        ]
        if self.remote_config is not None:
            tasks.append(loop.create_task(self.remote_config.run(), name="remote-config"))
        tasks.append(loop.create_task(self.commands.run(), name="commands"))
        tasks.append(loop.create_task(self.content.run(), name="content"))
        tasks.append(loop.create_task(self.software.run(), name="software"))
        stop_wait = loop.create_task(self._stop.wait())
        waiting: set[asyncio.Task[Any]] = {*tasks, stop_wait}
        failure: BaseException | None = None
        while failure is None and not stop_wait.done():
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:  # a task that simply finished (no watchdog, a bounded run) is fine
                if task is not stop_wait and not task.cancelled() and task.exception():
                    failure = task.exception()
        await self._shutdown(tasks, stop_wait)
        if failure is not None:
            raise failure

    async def _shutdown(self, tasks: list[asyncio.Task[Any]], stop_wait: asyncio.Task[Any]) -> None:
        self.notifier.stopping()
        log.info("agent stopping")
        peripherals, link_task, *others = tasks
        for task in (peripherals, *others):
            task.cancel()
        await asyncio.gather(peripherals, *others, return_exceptions=True)
        link = self._link
        if link is not None and not link.closed.is_set():
            # A clean shutdown says so itself; the Last Will is for losses.
            with contextlib.suppress(LinkError, TimeoutError):
                await asyncio.wait_for(
                    link.publish_and_wait(
                        topics.status(self.device), self._status(OFFLINE), retain=True
                    ),
                    3.0,
                )
            await link.disconnect()
        link_task.cancel()
        stop_wait.cancel()
        await asyncio.gather(link_task, stop_wait, return_exceptions=True)
        self.link_state.set("stopped")
        await asyncio.gather(*self._background, return_exceptions=True)  # a help alert in flight
        self._write_status_file()
        if self.local_api is not None:
            await self.local_api.close()
        await self.store.close()
        if self._lock_handle is not None:
            self._lock_handle.close()
        log.info("agent stopped")

    # -- readings ------------------------------------------------------------

    async def take_reading(self, peripheral: str, reading: DriverReading) -> None:
        """Commit a reading durably; returns only once it is in the outbox.

        If a patient at the UI is measuring this kind, the reading is tagged with
        their session and shown to them, after the commit and never before.
        """
        received = time.monotonic()
        spec = self._specs[peripheral]
        kind = reading.measurement.kind
        session = self.desk.tag(kind)
        body: dict[str, Any] = {
            "components": [c.to_json() for c in reading.measurement.components],
            "source": {"peripheral": peripheral, "driver": spec.driver, "backend": spec.backend},
        }
        if reading.notes:
            body["device_notes"] = list(reading.notes)
        if session is not None:
            body["session"] = session
        envelope = await self._commit(NewMessage("readings", kind, body, reading.taken_at))
        if session is not None:
            event = {
                "peripheral": peripheral,
                "kind": kind,
                "components": body["components"],
                "taken_at": envelope.at,
                "received_monotonic": received,  # for bench/ui_latency.py (CLOCK_MONOTONIC)
            }
            self.desk.taken(session, envelope, event)

    async def _commit(self, message: NewMessage) -> Envelope:
        """Commit durably, then let delivery send it."""
        envelope = await self.store.take(message)
        self.delivery.wake()
        return envelope

    # -- the local API ---------------------------------------------------------

    def _publish(self, event: api.Event) -> None:
        if self.local_api is not None:
            self.local_api.publish(event)

    def _peripheral_event(self, peripheral: str, event: str, data: dict[str, Any]) -> None:
        if event == "signal":
            self._signal(peripheral, data["signal"], data.get("text", ""))
            return
        kinds = list(self.peripherals.kinds_of(peripheral))
        session = self.desk.session
        if event == "refused" and session is not None and session.kinds & set(kinds):
            data = {**data, "session": session.id}
        self._publish(api.Event(event, {**data, "kinds": kinds}))

    def _signal(self, peripheral: str, kind: str, text: str) -> None:
        if kind == Signal.PRESENCE:
            self._publish(api.Event("presence", {"name": peripheral}))
        elif kind == Signal.SCANNED:
            # Possibly an NHS number: to the UI only, never logged, stored or sent.
            self._publish(api.Event("scanned", {"name": peripheral, "text": text}))
        elif kind == Signal.HELP_REQUESTED:
            task = asyncio.get_running_loop().create_task(self._help(peripheral))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _help(self, peripheral: str) -> None:
        try:
            await self.desk.help_requested(f"button:{peripheral}")
        except OutboxError as exc:
            log.error("help button %s: the staff alert could not be stored: %s", peripheral, exc)
            self.notifier.status(f"degraded: help alert not stored ({exc})")

    def _link_changed(self, state: str) -> None:
        self._publish(api.Event("link", {"state": state}))
        if self._opened:
            self.peripherals.show_link(state)

    async def _hello(self) -> dict[str, Any]:
        stats = await self.store.stats()
        peripherals = self.peripherals.to_json()
        for name, entry in peripherals.items():
            entry["kinds"] = list(self.peripherals.kinds_of(name))
        session = self.desk.session
        return {
            "api": api.API_VERSION,
            "device": self.device,
            "site": self.site,
            "role": self.config.device.role,
            "version": AGENT_VERSION,
            "ui": self._ui_settings(),
            "content_dir": str(self.content.store.current_dir),
            "content_digest": self.content.store.served_digest,
            "printer": self.printer is not None,
            "peripherals": peripherals,
            "link": self.link_state.state,
            "outbox": {"depth": stats.depth, "bound": stats.bound},
            "session": None if session is None else session.id,
        }

    def _alert_route(self, kind: str) -> dict[str, Any]:
        return self.config.alerts.route_for(kind)  # the settings in force, pushed or local

    def _ui_settings(self) -> dict[str, Any]:
        """The UI's settings as it gets them (hello, ``config`` events): never the PIN hash."""
        ui = self.config.ui
        return ui.model_dump(mode="json", exclude={"staff_pin_hash"}) | {
            "staff_screen": ui.staff_pin_hash is not None
        }

    # -- the broker link -----------------------------------------------------

    def _status(self, state: str) -> bytes:
        return status_payload(
            state, device=self.device, site=self.site, at=now_utc(), role=self.config.device.role
        )

    async def _link_forever(self) -> None:
        settings = self.config.broker
        while not self._stop.is_set():
            self.link_state.set("connecting")
            self._write_status_file()
            link: MqttLink | None = None
            async for attempt in broker_reconnect(
                settings.reconnect_initial_s, settings.reconnect_max_s
            ):
                with attempt:
                    link = await self._connect_once()
            assert link is not None
            self._link = link
            self.link_state.set("connected")
            self._link_up.set()
            self._send_answers()  # what commands said while the broker was away
            # The retained reports, once per connection and only now that it is ours: the
            # decisions on retained layers and manifests that arrived with the SUBACKs
            # could not be published on it before.
            if self.layers is not None:
                self._config_changed()
            self._content_changed()
            self._software_changed()
            self._write_status_file()
            if not self._ready:
                self._ready = True
                self.notifier.ready(f"connected to {settings.host}:{settings.port}")
            else:
                self.notifier.status(f"connected to {settings.host}:{settings.port}")
            log.info("connected to broker %s:%d", settings.host, settings.port)
            await self.delivery.serve(link)
            if self._stop.is_set():
                return
            self._link = None
            self._link_up.clear()
            self.link_state.outages += 1
            self.link_state.set("disconnected", link.close_reason)
            self._write_status_file()
            self.notifier.status(f"degraded: broker link lost ({link.close_reason})")
            log.warning("broker link lost: %s; readings are kept in the outbox", link.close_reason)

    async def _connect_once(self) -> MqttLink:
        settings = self.config.broker
        self.link_state.attempts += 1
        link = MqttLink(
            client_id=self.device,
            host=settings.host,
            port=settings.port,
            tls=self._tls,
            will=Will(topics.status(self.device), self._status(OFFLINE)),
            keepalive_s=settings.keepalive_s,
            max_inflight=MAX_INFLIGHT,
            on_message=self._on_message,
            on_published=self.delivery.on_published,
        )
        try:
            await link.connect()
            await link.subscribe(topics.ack(self.device), qos=1)
            await link.subscribe(topics.command_request(self.device), qos=1)
            self.content.link_up(link)
            for topic in self.content.topics():
                await link.subscribe(topic, qos=1)
            self.software.link_up(link)
            for topic in self.software.topics():
                await link.subscribe(topic, qos=1)
            if self.layers is not None:
                for scope in self.layers.scopes.values():
                    await link.subscribe(scope.topic(), qos=1)
            await link.publish_and_wait(
                topics.status(self.device), self._status(ONLINE), retain=True
            )
        except LinkError as exc:
            self._connect_failures += 1
            link.abort(str(exc))
            self.link_state.set("disconnected", str(exc))
            self._write_status_file()
            if not self._ready:
                self._ready = True  # serving patients offline is a working state
                self.notifier.ready(f"degraded: broker unreachable ({exc})")
            raise
        return link

    def _on_message(self, message: Incoming) -> None:
        topic = message.topic
        level = None if self.layers is None else self.layers.level_of(topic)
        if topic == topics.ack(self.device):
            self.delivery.on_ack(message.payload)
        elif topic == topics.command_request(self.device):
            self.commands.received(message)
        elif level is not None and self.remote_config is not None:
            self.remote_config.received(level, message.payload)
        elif not (self.content.received(message) | self.software.received(message)):
            log.warning("message on unexpected topic %s ignored", topic)

    # -- remote configuration --------------------------------------------------

    def _config_changed(self) -> None:
        """A layer was decided (or is being checked): say so, retained, and in the status."""
        assert self.layers is not None
        self._report(topics.config_reported(self.device), {"layers": self.layers.reported()})

    def _content_changed(self) -> None:
        self._report(topics.content_reported(self.device), self.content.reported)
        digest = self.content.store.served_digest
        if digest != self._content_digest:
            self._content_digest = digest
            content_dir = str(self.content.store.current_dir)
            self._publish(api.Event("content", {"content_dir": content_dir, "digest": digest}))

    def _software_changed(self) -> None:
        self._report(topics.software_reported(self.device), self.software.reported)

    def _software_health(self) -> dict[str, Any]:
        """What the updater judges a release on trial by (agent/software_sync.py)."""
        return {
            "link": self.link_state.state,
            "last_seq": self.delivery.last_seq,
            "confirmed_seq": self.delivery.confirmed_seq,
            "confirmed_at_start": self._confirmed_at_start,
        }

    def _report(self, topic: str, report: dict[str, Any]) -> None:
        """Write the status file and publish ``report`` retained on ``topic`` if connected."""
        self._write_status_file()
        link = self._link
        if link is not None and not link.closed.is_set():
            payload = canonical.dumps({"device": self.device, "at": now_utc(), **report})
            try:
                link.publish(topic, payload, retain=True)
            except LinkError as exc:
                log.warning("report on %s not sent: %s", topic, exc)

    def _apply(self, config: DeviceConfig) -> None:
        """Take a new effective configuration live. Telemetry reads its interval every
        round; the staff PIN is checked against the new hash at once; the UI gets its new
        settings in a ``config`` event (and takes them once no patient is at it); new
        peripherals restart the supervisor's set (a reading in flight from a peripheral
        that is going still finds its declaration)."""
        before = self._ui_settings()
        self.config = config
        self.desk.set_staff_pin(config.ui.staff_pin_hash)
        if self._ui_settings() != before:
            self._publish(api.Event("config", {"ui": self._ui_settings()}))
        specs = [p.spec() for p in config.peripherals]
        if specs != self.peripherals.specs:
            self._specs = {**self._specs, **{spec.name: spec for spec in specs}}
            self.peripherals.reconfigure(specs)

    # -- remote commands -------------------------------------------------------

    def _command_answer(self, payload: bytes, correlation: bytes | None) -> None:
        self._answers.append((payload, correlation))
        self._send_answers()

    def _send_answers(self) -> None:
        link = self._link
        while self._answers and link is not None and not link.closed.is_set():
            payload, correlation = self._answers[0]
            try:
                link.publish(topics.command_response(self.device), payload, correlation=correlation)
            except LinkError as exc:
                log.warning("command answer not sent yet: %s", exc)
                return
            self._answers.popleft()

    # -- certificate renewal (agent/identity.py) --------------------------------

    def _usable_identity(self) -> tuple[Identity, ssl.SSLContext]:
        """The renewed identity if it loads, else the enrolment's (a problem is reported)."""
        ca_file = self.config.broker.ca_file
        chosen = self.identity.current()
        if chosen.source == "renewed":
            try:
                return chosen, client_context(ca_file, chosen.cert_file, chosen.key_file)
            except KeyFileError as exc:
                log.warning("renewed identity not used, using the enrolment's: %s", exc)
                chosen = self.identity.enrolment(str(exc))
        return chosen, client_context(ca_file, chosen.cert_file, chosen.key_file)

    async def _cert_request(self) -> dict[str, Any]:
        try:
            csr = await asyncio.to_thread(self.identity.request)
        except OSError as exc:
            raise CommandFailed(f"cannot keep a new key in the state folder: {exc}") from None
        return {"csr": csr}

    async def _cert_install(self, certificate: str) -> dict[str, Any]:
        """Install the renewed certificate, reconnect with it, and answer only once connected;
        if it cannot connect in time, put the previous identity back and fail."""
        try:
            renewed, previous = await asyncio.to_thread(self.identity.install, certificate)
        except IdentityRejected as exc:
            raise CommandFailed(f"certificate refused: {exc}") from None
        except OSError as exc:
            raise CommandFailed(f"cannot write the renewed identity: {exc}") from None
        try:
            tls = client_context(self.config.broker.ca_file, renewed.cert_file, renewed.key_file)
        except KeyFileError as exc:
            self.identity.roll_back(previous)
            raise CommandFailed(f"the renewed identity does not load: {exc}") from None
        before, before_tls = self._identity, self._tls
        self._identity, self._tls = renewed, tls
        if await self._reconnect(RECONNECT_WITH_RENEWED_S):
            self.identity.forget_pending()
            self._write_status_file()
            log.info("connected with renewed certificate %s", renewed.serial)
            return {
                "serial": renewed.serial,
                "not_after": renewed.not_after,
                "previous_serial": before.serial,
            }
        error = self.link_state.last_error
        self.identity.roll_back(previous)
        self._identity, self._tls = before, before_tls
        log.warning("renewed certificate %s not usable (%s): rolled back", renewed.serial, error)
        await self._reconnect(0)  # the next attempt uses the previous identity again
        raise CommandFailed(
            f"could not connect with the renewed certificate ({error or 'no answer'}); "
            "the previous certificate is in use again"
        )

    async def _reconnect(self, wait_s: float) -> bool:
        """End the connection cleanly (no Last Will: the unit is not going offline) so that
        the link task connects again with ``self._tls``. True once connected; False after
        ``wait_s`` or :data:`RENEWED_ATTEMPTS` failed attempts."""
        self._link_up.clear()
        failures = self._connect_failures
        link = self._link
        if link is not None:
            log.info("reconnecting to the broker with another certificate")
            await link.disconnect()
        deadline = time.monotonic() + wait_s
        while not self._link_up.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self._connect_failures - failures >= RENEWED_ATTEMPTS:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._link_up.wait(), min(left, 0.25))
        return True

    def _ui_connections(self) -> int:
        return self.local_api.connected if self.local_api is not None else 0

    def _show_identity(self, data: dict[str, Any]) -> int:
        """The UI shows the device id (identify); how many UIs were told."""
        self._publish(api.Event("identify", data))
        return self._ui_connections()

    def _restart(self) -> None:
        self.exit_code = RESTART_EXIT_CODE
        self.stop()

    async def _outbox_depth(self) -> int:
        return (await self.store.stats()).depth

    async def _screenshot(self) -> dict[str, Any]:
        if self.desk.session is not None:  # the UI refuses too; this is the second guard
            raise CommandFailed("refused: a patient is using the unit")
        return await self.screenshots.ask(self._ui_connections())

    async def _ui_request(self, request: api.Request) -> dict[str, Any]:
        if request.op == "page.print":
            if self.printer is None:
                raise api.LocalApiError("no_device", "this unit has no printer")
            return await self.printer.print_page(request.args)
        if request.op != "screenshot.done":
            return await self.desk.handle(request)
        if not self.screenshots.answered(request.args):
            raise api.LocalApiError("bad_request", "no screenshot was asked for")
        return {}

    # -- reporting -----------------------------------------------------------

    def _content_summary(self) -> dict[str, Any]:
        """Versions held per level, what is served, the disk budget: no file names."""
        reported = self.content.reported
        return {
            "layers": {
                level: {"held": entry.get("held"), "state": entry.get("state")}
                for level, entry in reported.get("layers", {}).items()
            },
            "current": reported.get("current"),
            "disk": reported.get("disk"),
            "fetch": self.content.to_json(),
        }

    async def telemetry(self) -> dict[str, Any]:
        stats = await self.store.stats()
        return snapshot(
            started_monotonic=self._started,
            state_dir=self.state_dir,
            outbox=stats.to_json(),
            link=self.link_state.to_json(),
            delivery=self.delivery.counters.to_json(),
            peripherals=self.peripherals.to_json(),
            queues={
                "outbox": {"depth": stats.depth, "bound": stats.bound},
                "pending_commits": {"depth": self.store.pending, "bound": self.store.max_pending},
                "in_flight": {"depth": self.delivery.in_flight, "bound": MAX_INFLIGHT},
                "ui_connections": {
                    "depth": self.local_api.connected if self.local_api else 0,
                    "bound": self.local_api.max_connections if self.local_api else 0,
                },
                "ui_frames_per_connection": {
                    "bound": self.local_api.max_queued if self.local_api else 0
                },
            },
            extra={
                "device": self.device,
                "site": self.site,
                "version": AGENT_VERSION,
                "local_api": self.local_api.to_json() if self.local_api else {},
                "sessions": self.desk.counters,
                "refused_values": self.peripherals.refusals,
                "commands": self.commands.to_json(),
                "content": self._content_summary(),
                "certificate": self._identity.to_json(),
                "printer": None if self.printer is None else self.printer.to_json(),
                "pi_health": self.health.latest,
            },
        )

    async def _telemetry_forever(self) -> None:
        while True:
            await self.health.tick()  # alerts go to the outbox, link or no link
            link = self._link
            if link is not None and not link.closed.is_set():
                try:
                    link.publish(
                        topics.telemetry(self.device),
                        canonical.dumps(await self.telemetry()),
                        qos=0,
                    )
                except LinkError as exc:
                    log.warning("telemetry not sent: %s", exc)
            self._write_status_file()
            await asyncio.sleep(self.config.telemetry.interval_s)

    async def _watchdog_forever(self) -> None:
        if not self.notifier.watchdog_enabled:
            return
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(self.notifier.watchdog_interval_s)

    def _write_status_file(self) -> None:
        """What ``healthhub-agent status`` shows about the link; no patient data."""
        status = {
            "pid": os.getpid(),
            "device": self.device,
            "at": now_utc(),
            "link": self.link_state.to_json(),
            "delivery": self.delivery.counters.to_json(),
            "peripherals": self.peripherals.to_json(),
            "config": None if self.layers is None else self.layers.reported(),
            "commands": self.commands.to_json(),
            "content": self._content_summary(),
            "identity": self._identity.to_json(),
            "version": AGENT_VERSION,
            "software": self.software.reported,
        }
        try:
            write_atomic(self.state_dir / STATUS_FILE, canonical.dumps(status), mode=0o600)
        except OSError as exc:
            log.warning("cannot write %s: %s", STATUS_FILE, exc)


def _lock(path: Path) -> IO[str]:
    handle = open(path, "a+", encoding="ascii")  # noqa: SIM115 - held for the agent's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AgentAlreadyRunning(
            f"another agent is running with state folder {path.parent}"
        ) from None
    return handle
