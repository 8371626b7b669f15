"""MQTT clients of the practice side (bridge, console), from a fleet folder.

These are few, long-lived services on the practice's own machine, so they use
paho's own network thread and its reconnect (exponential, 1 s to 30 s). The
fleet of devices, where a stampede would matter, reconnects with jitter in the
agent instead.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from healthhub.protocol.fleet_layout import FleetLayout, load_manifest
from healthhub.protocol.tls import client_context


def practice_client(
    layout: FleetLayout,
    identity: str,
    *,
    client_id: str,
    manual_ack: bool = False,
) -> mqtt.Client:
    """A configured (not yet connected) client with the ``bridge`` or ``console`` certificate."""
    files = layout.client(identity)
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    client.tls_set_context(client_context(files.ca, files.cert, files.key))
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def connect(client: mqtt.Client, layout: FleetLayout, *, persistent_session_s: int = 0) -> None:
    """Start connecting (asynchronously; see ``on_connect``) to the fleet's broker."""
    manifest = load_manifest(layout)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = persistent_session_s
    client.connect_async(
        manifest.broker_host,
        manifest.broker_port,
        keepalive=30,
        clean_start=persistent_session_s == 0,
        properties=props,
    )
