"""Several bridge instances sharing the ingest load through MQTT v5 shared subscriptions.

With ``--share GROUP`` an instance subscribes to ``$share/GROUP/.../up/STREAM`` for each data
stream but alerts (:data:`SHARED_STREAMS`): the broker hands each of those messages to one
member of the group. Every member files into the same store, which works out each device's
confirmed seq inside its write lock, so the split cannot lose, repeat or reorder a
confirmation (``docs/scaling.md``, ``docs/decisions.md``).

Alerts are not shared (:data:`UNSHARED_STREAMS`): every instance subscribes to
``.../up/alerts`` normally and files every alert, so an alert is filed (and staff are told)
as soon as any live instance receives it. Shared, an alert could be handed to a dead member
(below) and wait there until the device sends it again, minutes later. Filing every alert
everywhere is safe: the envelope id is the store's key and the confirmed seq is worked out
in the store. The copies an instance finds already filed are counted as ``alert_copies``,
not ``duplicates``: with every instance receiving every alert they are expected
(:class:`~healthhub.fleet.bridge.BridgeCounters`).

Status and telemetry stay ordinary subscriptions at every instance too: each instance writes
every report in the broker's order, so the latest one is the last write whichever instance is
slower (a shared status could let an old "online" overwrite a newer "offline" for good).

Each instance also watches the retained acks. Two instances publish acks on two connections,
so the broker may keep a lower ack that a slower instance published last; an instance that
sees an ack below the store's confirmed seq publishes the current one again.

Mosquitto keeps giving a killed member its turn of the round robin for as long as its session
lives, and holds what it had in flight for it. A shared instance therefore keeps its session
for a short time by default (:data:`SHARED_SESSION_EXPIRY_S`): long enough to pick it up
again after a restart, short enough that a dead member stops holding devices' messages.
A session kept from an earlier run may still hold the filters an older release or an
unshared run subscribed to (:meth:`Membership.stale_subscriptions`); they are unsubscribed
at every connect, or this member would receive those messages twice.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from healthhub.protocol import topics
from healthhub.protocol.errors import ProtocolError

#: The session of a single bridge: a week of backlog waits at the broker while it is down.
SESSION_EXPIRY_S = 7 * 24 * 3600
#: The session of a shared instance: a restart within it picks its messages up again; after
#: it, mosquitto drops the session and what it held (devices send that again) and stops
#: giving the dead member a turn.
SHARED_SESSION_EXPIRY_S = 120
#: Every device's retained ack (watched by shared instances).
ALL_ACKS = f"{topics.ROOT}/devices/+/ack"
#: Streams every shared instance subscribes to normally: an urgent alert must not wait with a
#: dead member's session for its turn of the round robin.
UNSHARED_STREAMS = ("alerts",)
#: Streams whose messages the broker hands to one member of the group.
SHARED_STREAMS = tuple(stream for stream in topics.STREAMS if stream not in UNSHARED_STREAMS)


def checked_name(value: str, what: str) -> str:
    """A share group or instance name: safe in a topic filter and a client id."""
    try:
        return topics.validate_id(value, what=what)
    except ProtocolError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def share_group(value: str) -> str:
    """argparse ``type`` of ``--share``."""
    return checked_name(value, "share group")


def instance_name(value: str) -> str:
    """argparse ``type`` of ``--instance``."""
    return checked_name(value, "instance name")


@dataclass(frozen=True)
class Membership:
    """How one bridge instance meets the broker: client id, session and subscriptions."""

    share: str | None = None
    instance: str | None = None
    session_expiry_s: int | None = None

    def __post_init__(self) -> None:
        if self.share is not None:
            checked_name(self.share, "share group")
            if self.instance is None:
                # Two members with one client id would take each other's session over.
                raise ValueError("a shared bridge needs an instance name (--instance)")
        if self.instance is not None:
            checked_name(self.instance, "instance name")
        if self.session_expiry_s is not None and self.session_expiry_s < 0:
            raise ValueError("session expiry must be 0 or more seconds")

    @property
    def shared(self) -> bool:
        return self.share is not None

    @property
    def client_id(self) -> str:
        """One client id per instance; every instance presents the bridge certificate, so
        the ACL (``use_identity_as_username``) knows them all as the bridge."""
        if self.instance is None:
            return topics.BRIDGE_IDENTITY
        return f"{topics.BRIDGE_IDENTITY}-{self.instance}"

    @property
    def session_s(self) -> int:
        if self.session_expiry_s is not None:
            return self.session_expiry_s
        return SHARED_SESSION_EXPIRY_S if self.shared else SESSION_EXPIRY_S

    def subscriptions(self) -> list[tuple[str, int]]:
        """Topic filters and QoS to subscribe to at every connect."""
        # what each device last reported (status, telemetry, the config and content it
        # holds) goes to every instance: each keeps the latest, in the broker's order
        reports = [
            (topics.ALL_STATUS, 1),
            (topics.ALL_TELEMETRY, 0),
            (topics.ALL_CONFIG_REPORTED, 1),
            (topics.ALL_CONTENT_REPORTED, 1),
            (topics.ALL_SOFTWARE_REPORTED, 1),
        ]
        if not self.shared:
            return [(topics.ALL_UP, 1), *reports]
        shared = [(f"$share/{self.share}/{topics.all_up(s)}", 1) for s in SHARED_STREAMS]
        unshared = [(topics.all_up(stream), 1) for stream in UNSHARED_STREAMS]
        return [*shared, *unshared, *reports, (ALL_ACKS, 0)]

    def stale_subscriptions(self) -> list[str]:
        """Filters a persistent session may hold from an earlier run under this client id:
        unshared (``--instance`` without ``--share``), or this group's whole ``up/#`` (before
        alerts were taken out of the share). Left in place, they would send this member
        every message, or a second copy of the ones it now subscribes to one stream at a
        time."""
        if not self.shared:
            return []
        return [topics.ALL_UP, f"$share/{self.share}/{topics.ALL_UP}"]

    def describe(self) -> dict[str, str | int | None]:
        return {
            "client_id": self.client_id,
            "share": self.share,
            "instance": self.instance,
            "session_expiry_s": self.session_s,
        }
