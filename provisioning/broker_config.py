"""The practice broker's configuration: mosquitto with mTLS and per-device ACLs.

Every client presents a certificate from the fleet CA (``require_certificate``)
and is known by its certificate's CN (``use_identity_as_username``): a device
by its id, the bridge and console by their reserved names. The ACL gives each
device its own subtree and its site's and the fleet's desired documents, the
bridge what devices send plus the acks, the console the desired documents, and
nobody anything else. A revoked device gets nothing, and its certificates are on
the CA's revocation list (``crlfile``), so the TLS handshake refuses it.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from healthhub.protocol import topics
from healthhub.protocol.files import write_atomic
from healthhub.protocol.fleet_layout import FleetFolderError, FleetLayout, load_manifest
from healthhub.provisioning.addresses import is_loopback, validate_host
from healthhub.provisioning.certificate_index import revoked_devices
from healthhub.provisioning.enrolment import enrolled_devices
from healthhub.provisioning.revocation_list import ensure_crl

ROOT = topics.ROOT

#: Per client, QoS 1 messages the broker holds beyond those in flight. The
#: bridge's persistent session must hold every device's backlog while the
#: bridge restarts (mosquitto's default is 1,000, then it drops silently).
MAX_QUEUED_MESSAGES = 200_000
#: QoS 1 messages in flight from the broker to one client, and the Receive
#: Maximum mosquitto announces in CONNACK. The default (20) throttles the
#: bridge's drain of a backlog, as it acknowledges only after its COMMIT, and
#: is below the agents' own window (agent/service.py MAX_INFLIGHT = 100).
MAX_INFLIGHT_MESSAGES = 1000
#: Largest payload accepted; a bigger one is answered "implementation specific
#: error" and dropped, the connection stays up.
MESSAGE_SIZE_LIMIT = 256 * 1024
#: Largest MQTT packet at all, a backstop against a client that would make the
#: broker buffer megabytes: such a client is disconnected.
MAX_PACKET_SIZE = 1024 * 1024

ACL_HEADER = """\
# Health Hub ACL, written by healthhub-provision (re-rendered on every enrolment and
# revocation).
# Regenerate rather than edit. Clients are known by their certificate's CN
# (use_identity_as_username); anything not granted here is denied.
"""


def broker_user() -> str:
    """The user provisioning runs as: the one who can read the fleet's key files."""
    return pwd.getpwuid(os.geteuid()).pw_name


def default_bind(broker_host: str) -> str:
    """Loopback for a broker that only this machine uses, else every interface."""
    return "127.0.0.1" if is_loopback(broker_host) else "0.0.0.0"  # noqa: S104 - devices connect from the LAN


def render_config(layout: FleetLayout, *, bind: str) -> str:
    """``mosquitto.conf`` for the fleet: one mTLS listener on ``bind``."""
    manifest = load_manifest(layout)
    user = broker_user()
    revocation = (
        "\n# Revoked certificates (`healthhub-provision revoke` and `rotate`). Re-read on\n"
        "# SIGHUP for new connections; mosquitto will not start if the file is missing.\n"
        f"crlfile {layout.crl}\n"
        if layout.crl.exists()
        else ""
    )
    return f"""\
# Health Hub practice broker, written by healthhub-provision.
# Regenerate rather than edit: `healthhub-provision broker {layout.root}`.
per_listener_settings false
allow_anonymous false

# mosquitto started as root switches to the user named here ("mosquitto" when
# unset), and that user could not read the 0600 keys and the 0700 folders of
# the fleet ("Unable to load server key file ... Permission denied"). This is
# the user who provisioned the fleet ({user}); with "root" mosquitto keeps
# running as root. Started as any other user, mosquitto ignores this line.
user {user}

persistence true
persistence_location {layout.broker_data}/
autosave_interval 30

# stderr, not stdout: mosquitto does not flush stdout, so a log file or the
# journal would see its lines only when it exits.
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
connection_messages true

# The bridge's persistent session must hold a backlog while it restarts.
max_queued_messages {MAX_QUEUED_MESSAGES}
# In flight to one client, and the Receive Maximum announced to MQTT v5 clients
# (default 20): the bridge acknowledges after its COMMIT and drains backlogs.
max_inflight_messages {MAX_INFLIGHT_MESSAGES}
# Bigger payloads are refused (PUBACK "implementation specific error");
# bigger packets end the connection.
message_size_limit {MESSAGE_SIZE_LIMIT}
max_packet_size {MAX_PACKET_SIZE}

listener {manifest.broker_port} {bind}
cafile {layout.ca_cert}
certfile {layout.server_cert}
keyfile {layout.server_key}
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
{revocation}
# Reloaded on SIGHUP (`healthhub-provision device` sends it after an enrolment).
acl_file {layout.broker_acl}
"""


def _grants(user: str, why: str, reads: list[str], writes: list[str]) -> list[str]:
    return [
        "",
        f"# {why}",
        f"user {user}",
        *(f"topic read {topic}" for topic in reads),
        *(f"topic write {topic}" for topic in writes),
    ]


def render_acl(layout: FleetLayout) -> str:
    """The ACL: the bridge, the console and every enrolled device (``devices/*/device.yaml``)
    that is not revoked."""
    lines = _grants(
        topics.BRIDGE_IDENTITY,
        "The bridge files what devices send and confirms it with the retained ack. Shared\n"
        "# instances ($share/GROUP/...: mosquitto checks what it delivers against these\n"
        "# topics) read the acks too, to publish again one another's late, lower acks.",
        reads=[
            topics.ALL_UP,
            topics.ALL_STATUS,
            topics.ALL_TELEMETRY,
            topics.ALL_CONFIG_REPORTED,
            topics.ALL_CONTENT_REPORTED,
            topics.ALL_SOFTWARE_REPORTED,
            f"{ROOT}/devices/+/cmd/res",
            f"{ROOT}/devices/+/ack",
        ],
        writes=[f"{ROOT}/devices/+/ack"],
    )
    lines += _grants(
        topics.CONSOLE_IDENTITY,
        "The console watches the whole fleet and pushes desired documents and commands.",
        reads=[f"{ROOT}/#"],
        writes=[
            topics.FLEET_CONFIG,
            topics.FLEET_CONTENT,
            f"{ROOT}/sites/+/config",
            f"{ROOT}/sites/+/content",
            f"{ROOT}/devices/+/config",
            f"{ROOT}/devices/+/content",
            f"{ROOT}/devices/+/cmd/req",
            topics.CONTENT_BLOBS,
            topics.FLEET_SOFTWARE,
            f"{ROOT}/sites/+/software",
            f"{ROOT}/devices/+/software",
        ],
    )
    revoked = revoked_devices(layout)
    for device, site in enrolled_devices(layout).items():
        if device in revoked:
            lines += ["", f"# Device {device} at site {site}: revoked, nothing granted."]
            continue
        lines += _grants(
            device,
            f"Device {device} at site {site}: its own subtree, its site's and the fleet's "
            "documents.",
            reads=[
                topics.ack(device),
                topics.device_config(device),
                topics.device_content(device),
                topics.command_request(device),
                topics.site_config(site),
                topics.site_content(site),
                topics.FLEET_CONFIG,
                topics.FLEET_CONTENT,
                topics.CONTENT_BLOBS,
                topics.device_software(device),
                topics.site_software(site),
                topics.FLEET_SOFTWARE,
            ],
            writes=[
                topics.status(device),
                topics.telemetry(device),
                f"{topics.device_root(device)}/up/#",
                topics.config_reported(device),
                topics.content_reported(device),
                topics.software_reported(device),
                topics.command_response(device),
            ],
        )
    return ACL_HEADER + "\n".join(lines) + "\n"


def write_acl(layout: FleetLayout) -> Path:
    write_atomic(layout.broker_acl, render_acl(layout).encode("utf-8"), mode=0o640)
    return layout.broker_acl


def write_broker_config(layout: FleetLayout, *, bind: str | None = None) -> Path:
    """Write ``broker/mosquitto.conf`` and ``broker/acl``, make ``broker/data/``.

    ``bind`` defaults to :func:`default_bind` of the fleet's broker host.
    Returns the config's path.
    """
    manifest = load_manifest(layout)
    bind = validate_host(bind, what="bind address") if bind else default_bind(manifest.broker_host)
    for needed in (layout.ca_cert, layout.server_cert, layout.server_key):
        if not needed.is_file():
            raise FleetFolderError(f"{needed} missing: {layout.root} is not a whole fleet")
    layout.broker_data.mkdir(parents=True, exist_ok=True, mode=0o700)
    ensure_crl(layout)  # mosquitto refuses to start with a crlfile that is not there
    write_acl(layout)
    conf = render_config(layout, bind=bind)
    write_atomic(layout.broker_conf, conf.encode("utf-8"), mode=0o640)
    return layout.broker_conf


def configured_bind(conf: Path) -> str | None:
    """The address the ``listener`` line of a written mosquitto.conf binds, as written."""
    for line in conf.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "listener":
            return words[2] if len(words) > 2 else None
    return None


def names_crlfile(conf: Path) -> bool:
    """Whether a written mosquitto.conf uses the CRL (one written before revocation does not)."""
    lines = conf.read_text(encoding="utf-8").splitlines()
    return any(line.split()[:1] == ["crlfile"] for line in lines)


def refresh_acl(layout: FleetLayout) -> bool:
    """Re-render the ACL if the broker is configured; True if it was.

    A running broker reads it on SIGHUP
    (:func:`healthhub.provisioning.broker_process.reload_acl`).
    """
    if not layout.broker_conf.exists():
        return False
    write_acl(layout)
    return True
