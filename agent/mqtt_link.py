"""One MQTT v5 connection to the practice broker, driven by the agent's event loop.

paho-mqtt does the protocol; its socket is watched by asyncio (``add_reader``/
``add_writer``), the way aiomqtt drives it, so everything the agent does runs
on one loop and nothing reconnects behind our back: a :class:`MqttLink` is one
connection, and the agent's reconnect policy (tenacity, exponential backoff
with jitter) makes a new one. The blocking TCP connect and TLS handshake run in
a worker thread so the loop keeps taking readings while the broker is away.

PUBACK reason codes are checked: with MQTT v5 a publish the ACL denies is
acknowledged with "Not authorized", and that must not pass for success.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from healthhub.protocol.errors import HealthHubError

log = logging.getLogger(__name__)

CONNACK_TIMEOUT_S = 15.0


class LinkError(HealthHubError):
    """The connection could not be made or was lost."""

    permanent = False


class LinkRefused(LinkError):
    """The broker refused us (bad certificate, not authorised): retrying soon will not help."""

    permanent = True


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class Incoming:
    """A message from the broker, with the MQTT v5 request/response properties (a command
    says where its answer goes and what correlation data to echo)."""

    topic: str
    payload: bytes
    retained: bool
    response_topic: str | None = None
    correlation: bytes | None = None


MessageHandler = Callable[[Incoming], None]
PublishHandler = Callable[[int, ReasonCode], None]


class MqttLink:
    def __init__(
        self,
        *,
        client_id: str,
        host: str,
        port: int,
        tls: ssl.SSLContext,
        will: Will | None = None,
        keepalive_s: int = 30,
        max_inflight: int = 1000,
        on_message: MessageHandler | None = None,
        on_published: PublishHandler | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.keepalive_s = keepalive_s
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._on_message = on_message
        self._on_published = on_published
        self._connack: asyncio.Future[ReasonCode] = self._loop.create_future()
        self._subacks: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self._pubacks: dict[int, asyncio.Future[ReasonCode]] = {}
        self.closed = asyncio.Event()
        self.close_reason = "not connected"
        self._misc_task: asyncio.Task[None] | None = None
        self._fd: int | None = None

        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
        )
        client.tls_set_context(tls)
        client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(0)  # the bound is the agent's window, not paho's queue
        if will is not None:
            client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        client.on_subscribe = self._handle_subscribe
        client.on_socket_open = self._socket_open
        client.on_socket_close = self._socket_close
        client.on_socket_register_write = self._register_write
        client.on_socket_unregister_write = self._unregister_write
        self._client = client

    # -- connecting ----------------------------------------------------------

    async def connect(self) -> None:
        """Connect and wait for CONNACK; :class:`LinkError` or :class:`LinkRefused` if not."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0  # the outbox, not the broker, holds what is unsent
        try:
            await asyncio.to_thread(
                self._client.connect,
                self.host,
                self.port,
                keepalive=self.keepalive_s,
                clean_start=True,
                properties=props,
            )
        except ssl.SSLCertVerificationError as exc:
            raise LinkRefused(f"broker certificate not trusted: {exc.verify_message}") from None
        except ssl.SSLError as exc:
            raise LinkError(f"TLS handshake with {self.host}:{self.port} failed: {exc}") from None
        except (TimeoutError, OSError) as exc:
            raise LinkError(f"cannot reach broker {self.host}:{self.port}: {exc}") from None
        try:
            code = await asyncio.wait_for(asyncio.shield(self._connack), CONNACK_TIMEOUT_S)
        except TimeoutError:
            self.abort("no CONNACK")
            raise LinkError(f"broker {self.host}:{self.port} did not answer CONNECT") from None
        except LinkError:
            raise
        if code.is_failure:
            self.abort(f"refused: {code}")
            raise LinkRefused(f"broker refused the connection: {code}")

    async def subscribe(self, topic: str, qos: int = 1) -> ReasonCode:
        result, mid = self._client.subscribe(topic, qos=qos)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise LinkError(f"subscribe to {topic} failed: {mqtt.error_string(result)}")
        future: asyncio.Future[list[ReasonCode]] = self._loop.create_future()
        self._subacks[mid] = future
        codes: list[ReasonCode] = await self._until_closed(future, f"SUBACK for {topic}")
        if codes[0].is_failure:
            raise LinkRefused(f"subscribe to {topic} refused: {codes[0]}")
        return codes[0]

    def unsubscribe(self, topic: str) -> None:
        """Stop receiving ``topic`` (not waited for: a message already sent may still come)."""
        result, _ = self._client.unsubscribe(topic)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise LinkError(f"unsubscribe from {topic} failed: {mqtt.error_string(result)}")

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        correlation: bytes | None = None,
    ) -> int:
        """Queue a publish without waiting; returns the message id (see ``on_published``).
        ``correlation``: the MQTT v5 correlation data of the request this answers."""
        properties = None
        if correlation is not None:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.CorrelationData = correlation
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_QUEUE_SIZE):
            raise LinkError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        return info.mid

    async def publish_and_wait(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> ReasonCode:
        """Publish and wait for the PUBACK; :class:`LinkRefused` if the broker refused it."""
        future: asyncio.Future[ReasonCode] = self._loop.create_future()
        mid = self.publish(topic, payload, qos=qos, retain=retain)
        self._pubacks[mid] = future
        code: ReasonCode = await self._until_closed(future, f"PUBACK for {topic}")
        if code.is_failure:
            raise LinkRefused(f"publish to {topic} refused: {code}")
        return code

    async def disconnect(self) -> None:
        """A clean DISCONNECT: the broker does not send our Last Will."""
        if self.closed.is_set():
            return
        self._client.disconnect()
        try:
            await asyncio.wait_for(self.closed.wait(), 5.0)
        except TimeoutError:
            self.abort("disconnect timed out")

    def abort(self, reason: str) -> None:
        """Drop the connection at once (the broker will send our Last Will)."""
        sock = self._client.socket()
        if sock is not None and self._fd is not None:
            self._forget_socket()
            with contextlib.suppress(OSError):
                sock.close()
        self._mark_closed(reason)

    async def _until_closed(self, future: asyncio.Future[Any], what: str) -> Any:
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            done, _ = await asyncio.wait(
                {future, closed}, timeout=30.0, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closed.cancel()
        if future in done and not future.cancelled():
            return future.result()
        if closed in done:
            raise LinkError(f"connection lost waiting for {what}: {self.close_reason}")
        raise LinkError(f"timed out waiting for {what}")

    # -- paho callbacks (all on the loop thread except during connect) ------

    def _on_loop(self, fn: Callable[[], None]) -> None:
        if threading.get_ident() == self._loop_thread:
            fn()
        else:
            self._loop.call_soon_threadsafe(fn)

    def _socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        fd = sock.fileno()
        # Small packets (PUBACK, SUBSCRIBE) must not wait for Nagle's algorithm: with the
        # broker's delayed ACK each waited ~40 ms (bench/fleet_push.py: content fetches ran
        # at 5 MiB/s instead of 80).
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def watch() -> None:
            self._fd = fd
            self._loop.add_reader(fd, self._read)
            self._misc_task = self._loop.create_task(self._misc())

        self._on_loop(watch)

    def _socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._forget_socket)

    def _forget_socket(self) -> None:
        if self._loop.is_closed():
            return
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
            self._fd = None
        if self._misc_task is not None:
            self._misc_task.cancel()
            self._misc_task = None

    def _register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        fd = sock.fileno()
        self._on_loop(lambda: self._loop.add_writer(fd, self._write))

    def _unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        fd = sock.fileno()

        def unwatch() -> None:
            self._loop.remove_writer(fd)

        self._on_loop(unwatch)

    def _read(self) -> None:
        rc = self._client.loop_read()
        # TLS may hold decrypted records that the socket no longer signals as readable.
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            sock = self._client.socket()
            if not isinstance(sock, ssl.SSLSocket) or not sock.pending():
                break
            rc = self._client.loop_read()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._mark_closed(f"read failed: {mqtt.error_string(rc)}")

    def _write(self) -> None:
        rc = self._client.loop_write()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._mark_closed(f"write failed: {mqtt.error_string(rc)}")

    async def _misc(self) -> None:
        # Keepalive pings and timeouts; paho wants this about once a second.
        while self._client.loop_misc() == MQTTErrorCode.MQTT_ERR_SUCCESS:  # noqa: ASYNC110
            await asyncio.sleep(1.0)
        self._mark_closed("keepalive lost")

    def _handle_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        def settle() -> None:
            if not self._connack.done():
                self._connack.set_result(reason_code)

        self._on_loop(settle)

    def _handle_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._on_loop(lambda: self._mark_closed(f"disconnected: {reason_code}"))

    def _mark_closed(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.close_reason = reason
        self._forget_socket()
        self.closed.set()
        if not self._connack.done():
            self._connack.set_exception(LinkError(f"connection closed: {reason}"))
            self._connack.exception()  # retrieved: no "exception never retrieved" warning
        pending: list[asyncio.Future[Any]] = [*self._pubacks.values(), *self._subacks.values()]
        for future in pending:
            if not future.done():
                future.cancel()

    def _handle_message(
        self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage
    ) -> None:
        if self._on_message is None:
            return
        props = message.properties
        response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        self._on_message(
            Incoming(
                message.topic,
                bytes(message.payload),
                bool(message.retain),
                response_topic if isinstance(response_topic, str) else None,
                bytes(correlation) if isinstance(correlation, bytes | bytearray) else None,
            )
        )

    def _handle_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        future = self._pubacks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(reason_code)
        if self._on_published is not None:
            self._on_published(mid, reason_code)

    def _handle_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        future = self._subacks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(reason_codes)
