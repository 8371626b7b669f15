"""MQTT topic names of the wire contract (DESIGN.md, "The wire contract").

Every topic a part publishes or subscribes to is built here, so a change of
the contract is one change. Device and site ids are validated before they
become part of a topic: an id with ``/``, ``+`` or ``#`` would escape its
subtree and its ACL.
"""

from __future__ import annotations

import re

from healthhub.protocol.errors import ProtocolError

ROOT = "healthhub/v1"

#: Data streams a device sends on ``devices/{device}/up/{stream}``.
STREAMS = ("readings", "submissions", "usage", "alerts")

#: Client certificate common names of the practice-side services. Device ids
#: may not take them (see :func:`validate_id`).
BRIDGE_IDENTITY = "healthhub-bridge"
CONSOLE_IDENTITY = "healthhub-console"
RESERVED_PREFIX = "healthhub-"

_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def validate_id(value: str, *, what: str = "id") -> str:
    """Return ``value`` if it is a valid device or site id, else raise :class:`ProtocolError`.

    Ids are 1-64 characters of lower-case letters, digits and inner hyphens, so
    they are safe in topics, file names and certificate names.
    """
    if not isinstance(value, str) or not _ID.match(value):
        raise ProtocolError(
            f"{what} {value!r} is not valid: use 1-64 lower-case letters, digits and "
            "hyphens, starting and ending with a letter or digit"
        )
    if value.startswith(RESERVED_PREFIX):
        raise ProtocolError(f"{what} {value!r} is reserved: ids may not start with 'healthhub-'")
    return value


def device_root(device: str) -> str:
    return f"{ROOT}/devices/{validate_id(device, what='device id')}"


def status(device: str) -> str:
    return f"{device_root(device)}/status"


def telemetry(device: str) -> str:
    return f"{device_root(device)}/telemetry"


def up(device: str, stream: str) -> str:
    if stream not in STREAMS:
        raise ProtocolError(f"unknown stream {stream!r}; streams are {', '.join(STREAMS)}")
    return f"{device_root(device)}/up/{stream}"


def ack(device: str) -> str:
    return f"{device_root(device)}/ack"


def device_config(device: str) -> str:
    return f"{device_root(device)}/config"


def config_reported(device: str) -> str:
    return f"{device_root(device)}/config/reported"


def device_content(device: str) -> str:
    return f"{device_root(device)}/content"


def content_reported(device: str) -> str:
    return f"{device_root(device)}/content/reported"


def device_software(device: str) -> str:
    return f"{device_root(device)}/software"


def software_reported(device: str) -> str:
    return f"{device_root(device)}/software/reported"


def content_blob(sha256: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ProtocolError(f"{sha256!r} is not a sha256 in lower-case hex")
    return f"{ROOT}/content/blobs/{sha256}"


def command_request(device: str) -> str:
    return f"{device_root(device)}/cmd/req"


def command_response(device: str) -> str:
    return f"{device_root(device)}/cmd/res"


def site_config(site: str) -> str:
    return f"{ROOT}/sites/{validate_id(site, what='site id')}/config"


def site_content(site: str) -> str:
    return f"{ROOT}/sites/{validate_id(site, what='site id')}/content"


def site_software(site: str) -> str:
    return f"{ROOT}/sites/{validate_id(site, what='site id')}/software"


FLEET_CONFIG = f"{ROOT}/fleet/config"
FLEET_CONTENT = f"{ROOT}/fleet/content"
FLEET_SOFTWARE = f"{ROOT}/fleet/software"
CONTENT_BLOBS = f"{ROOT}/content/blobs/#"

# Wildcard subscriptions of the practice side.
ALL_UP = f"{ROOT}/devices/+/up/#"
ALL_STATUS = f"{ROOT}/devices/+/status"
ALL_TELEMETRY = f"{ROOT}/devices/+/telemetry"
ALL_CONFIG_REPORTED = f"{ROOT}/devices/+/config/reported"
ALL_CONTENT_REPORTED = f"{ROOT}/devices/+/content/reported"
ALL_SOFTWARE_REPORTED = f"{ROOT}/devices/+/software/reported"


def all_up(stream: str) -> str:
    """Every device's ``up/{stream}`` (one data stream of :data:`ALL_UP`)."""
    if stream not in STREAMS:
        raise ProtocolError(f"unknown stream {stream!r}; streams are {', '.join(STREAMS)}")
    return f"{ROOT}/devices/+/up/{stream}"


def parse_device_topic(topic: str) -> tuple[str, str]:
    """Split ``healthhub/v1/devices/{device}/{rest}`` into ``(device, rest)``.

    Raises :class:`ProtocolError` for any other topic.
    """
    prefix = f"{ROOT}/devices/"
    if not topic.startswith(prefix):
        raise ProtocolError(f"not a device topic: {topic!r}")
    device, sep, rest = topic[len(prefix) :].partition("/")
    if not sep or not rest:
        raise ProtocolError(f"not a device topic: {topic!r}")
    validate_id(device, what="device id")
    return device, rest
