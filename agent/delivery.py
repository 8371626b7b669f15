"""Sending the outbox to the practice, in order, until the practice confirms it.

Per connection: start from the last confirmed seq and publish what follows, at
QoS 1, in seq order, never more than ``window`` messages ahead of the last
confirmation and never more than ``max_inflight`` without a PUBACK. The
bridge's retained ``ack`` ``{"seq": N}`` is the only thing that deletes rows.
If nothing is confirmed for ``resend_after_s`` after everything was PUBACKed,
the unconfirmed messages are sent again from the first, and the wait doubles
until something is confirmed (a bridge that is down is not flooded).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from paho.mqtt.reasoncodes import ReasonCode

from healthhub.agent.async_outbox import AsyncOutbox
from healthhub.agent.mqtt_link import MqttLink
from healthhub.protocol import topics
from healthhub.protocol.errors import MalformedMessage
from healthhub.protocol.status import parse_ack

log = logging.getLogger(__name__)

READ_BATCH = 500
MAX_RESEND_WAIT_S = 600.0


@dataclass
class DeliveryCounters:
    published: int = 0
    resent: int = 0
    refused: int = 0  # PUBACKs with a failure reason (e.g. Not authorized)
    delivered_seq: int = 0  # highest seq the broker has PUBACKed
    bad_acks: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Delivery:
    def __init__(
        self,
        outbox: AsyncOutbox,
        *,
        device: str,
        window: int,
        resend_after_s: float,
        max_inflight: int,
    ) -> None:
        self.outbox = outbox
        self.device = device
        self.window = window
        self.resend_after_s = resend_after_s
        self.max_inflight = max_inflight
        self.counters = DeliveryCounters()
        self._wake = asyncio.Event()
        self._sent_upto = 0
        self._mid_seq: dict[int, int] = {}
        self._resend_wait = resend_after_s
        self._last_progress = time.monotonic()
        self._confirming: set[asyncio.Task[None]] = set()
        self._ack_topic = topics.ack(device)

    @property
    def confirmed_seq(self) -> int:
        return self.outbox.outbox.confirmed_seq

    @property
    def last_seq(self) -> int:
        return self.outbox.outbox.last_seq

    @property
    def in_flight(self) -> int:
        """Messages published on this connection that the broker has not yet PUBACKed."""
        return len(self._mid_seq)

    def wake(self) -> None:
        """Something changed (a new reading, a PUBACK, an ack): look again."""
        self._wake.set()

    async def serve(self, link: MqttLink) -> None:
        """Send over ``link`` until it closes."""
        self._sent_upto = self.confirmed_seq
        self._mid_seq.clear()
        self._last_progress = time.monotonic()
        while not link.closed.is_set():
            self._wake.clear()
            self._maybe_resend()
            room = min(
                self.window - (self._sent_upto - self.confirmed_seq),
                self.max_inflight - len(self._mid_seq),
                READ_BATCH,
            )
            if room > 0 and self._sent_upto < self.last_seq:
                for row in await self.outbox.read_after(self._sent_upto, room):
                    if link.closed.is_set():
                        return
                    mid = link.publish(topics.up(self.device, row.stream), row.payload, qos=1)
                    self._mid_seq[mid] = row.seq
                    self._sent_upto = row.seq
                    self.counters.published += 1
                continue
            await self._sleep_until_woken(link)

    async def _sleep_until_woken(self, link: MqttLink) -> None:
        waiters = {
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(link.closed.wait()),
        }
        timeout = max(0.05, self._resend_wait - (time.monotonic() - self._last_progress))
        _, pending = await asyncio.wait(waiters, timeout=timeout, return_when="FIRST_COMPLETED")
        for waiter in pending:
            waiter.cancel()

    def _maybe_resend(self) -> None:
        unconfirmed = self._sent_upto - self.confirmed_seq
        if unconfirmed <= 0 or self._mid_seq:
            return
        if time.monotonic() - self._last_progress < self._resend_wait:
            return
        log.warning(
            "no confirmation for %.0f s: sending %d unconfirmed message(s) again from seq %d",
            self._resend_wait,
            unconfirmed,
            self.confirmed_seq + 1,
        )
        self.counters.resent += unconfirmed
        self._sent_upto = self.confirmed_seq
        self._resend_wait = min(self._resend_wait * 2, MAX_RESEND_WAIT_S)
        self._last_progress = time.monotonic()

    def flush_now(self) -> int:
        """Send every unconfirmed message again now, and start the resend wait again from
        its first value (the console's ``flush-outbox-now``); how many will be resent."""
        unconfirmed = max(0, self._sent_upto - self.confirmed_seq)
        self.counters.resent += unconfirmed
        self._sent_upto = self.confirmed_seq
        self._resend_wait = self.resend_after_s
        self._last_progress = time.monotonic()
        self.wake()
        return unconfirmed

    def on_published(self, mid: int, reason: ReasonCode) -> None:
        seq = self._mid_seq.pop(mid, None)
        if seq is None:
            return  # a birth, a telemetry message: not ours
        if reason.is_failure:
            self.counters.refused += 1
            log.error("broker refused message seq %d: %s (it stays in the outbox)", seq, reason)
        else:
            self.counters.delivered_seq = max(self.counters.delivered_seq, seq)
        self.wake()

    def on_ack(self, payload: bytes) -> None:
        """The bridge's retained ``{"seq": N}``; deletion happens on the outbox thread."""
        try:
            seq = parse_ack(payload)
        except MalformedMessage as exc:
            self.counters.bad_acks += 1
            log.error("ignored a malformed ack: %s", exc)
            return
        if seq > self.last_seq:
            log.warning(
                "the practice confirms seq %d but this device has taken only %d", seq, self.last_seq
            )
        if seq > self.confirmed_seq:
            task = asyncio.get_running_loop().create_task(self._confirm(seq))
            self._confirming.add(task)
            task.add_done_callback(self._confirming.discard)

    async def _confirm(self, seq: int) -> None:
        before = self.confirmed_seq
        await self.outbox.confirm(seq)
        if self.confirmed_seq > before:
            self._last_progress = time.monotonic()
            self._resend_wait = self.resend_after_s
            self._sent_upto = max(self._sent_upto, self.confirmed_seq)
        self.wake()
