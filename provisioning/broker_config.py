"""The practice broker's configuration: mosquitto with mTLS and per-device ACLs.

Every client presents a certificate from the fleet CA (``require_certificate``)
and is known by its certificate's CN (``use_identity_as_username``): a device
by its id, the bridge and console by their reserved names. The ACL gives each
device its own subtree and its site's and the fleet's desired documents, and
nothing else.
"""

from __future__ import annotations

import getpass
import os
import pwd
from pathlib import Path

from healthhub.protocol import topics
from healthhub.protocol.files import write_atomic
from healthhub.protocol.fleet_layout import FleetLayout, load_manifest
from healthhub.provisioning.enrolment import enrolled_devices

ROOT = topics.ROOT


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return getpass.getuser()


def default_bind(broker_host: str) -> str:
    return "127.0.0.1" if broker_host in ("localhost", "127.0.0.1") else "0.0.0.0"  # noqa: S104


def render_config(layout: FleetLayout, *, bind: str) -> str:
    manifest = load_manifest(layout)
    user = _user()
    return f"""# Health Hub practice broker, written by healthhub-provision broker.
# Regenerate rather than edit: `healthhub-provision broker {layout.root}`.
per_listener_settings false
allow_anonymous false

# mosquitto started as root switches to the user named here. It is the user
# who provisioned the fleet ({user}), so the broker can always read the key
# files it was given (0600) instead of dropping to a user that cannot.
user {user}

persistence true
persistence_location {layout.broker_data}/
autosave_interval 30

log_dest stdout
log_type error
log_type warning
log_type notice
log_type information
connection_messages true

# The bridge's persistent session must hold a device backlog while it restarts.
max_queued_messages 200000
# QoS 1 messages in flight to or from one client at a time (default 20).
max_inflight_messages 1000
max_packet_size 262144

listener {manifest.broker_port} {bind}
cafile {layout.ca_cert}
certfile {layout.server_cert}
keyfile {layout.server_key}
require_certificate true
use_identity_as_username true
tls_version tlsv1.2

acl_file {layout.broker_acl}
"""


def render_acl(layout: FleetLayout) -> str:
    lines = [
        "# Health Hub ACL, written by healthhub-provision (regenerated on each enrolment).",
        "# Clients are known by their certificate CN. Anything not granted here is denied.",
        "",
        "# The bridge files what devices send and confirms it.",
        f"user {topics.BRIDGE_IDENTITY}",
        f"topic read {ROOT}/devices/+/up/#",
        f"topic read {ROOT}/devices/+/status",
        f"topic read {ROOT}/devices/+/telemetry",
        f"topic read {ROOT}/devices/+/config/reported",
        f"topic read {ROOT}/devices/+/cmd/res",
        f"topic write {ROOT}/devices/+/ack",
        "",
        "# The console watches everything and pushes desired documents.",
        f"user {topics.CONSOLE_IDENTITY}",
        f"topic read {ROOT}/#",
        f"topic write {topics.FLEET_CONFIG}",
        f"topic write {topics.FLEET_CONTENT}",
        f"topic write {ROOT}/sites/+/config",
        f"topic write {ROOT}/sites/+/content",
        f"topic write {ROOT}/devices/+/config",
        f"topic write {ROOT}/devices/+/content",
        f"topic write {ROOT}/devices/+/cmd/req",
        f"topic write {topics.CONTENT_BLOBS}",
    ]
    for device, site in enrolled_devices(layout).items():
        lines += [
            "",
            f"# device {device} at {site}",
            f"user {device}",
            f"topic write {topics.status(device)}",
            f"topic write {topics.telemetry(device)}",
            f"topic write {topics.device_root(device)}/up/#",
            f"topic write {topics.config_reported(device)}",
            f"topic write {topics.command_response(device)}",
            f"topic read {topics.ack(device)}",
            f"topic read {topics.device_config(device)}",
            f"topic read {topics.device_content(device)}",
            f"topic read {topics.command_request(device)}",
            f"topic read {topics.site_config(site)}",
            f"topic read {topics.site_content(site)}",
            f"topic read {topics.FLEET_CONFIG}",
            f"topic read {topics.FLEET_CONTENT}",
            f"topic read {topics.CONTENT_BLOBS}",
        ]
    return "\n".join(lines) + "\n"


def write_broker_config(layout: FleetLayout, *, bind: str | None = None) -> Path:
    """Write mosquitto.conf and the ACL; returns the config's path."""
    manifest = load_manifest(layout)
    layout.broker_data.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(layout.broker_acl, render_acl(layout).encode("utf-8"), mode=0o640)
    conf = render_config(layout, bind=bind or default_bind(manifest.broker_host))
    write_atomic(layout.broker_conf, conf.encode("utf-8"), mode=0o640)
    return layout.broker_conf


def refresh_acl(layout: FleetLayout) -> bool:
    """Re-render the ACL if the broker is configured; True if it was."""
    if not layout.broker_conf.exists():
        return False
    write_atomic(layout.broker_acl, render_acl(layout).encode("utf-8"), mode=0o640)
    return True
