"""Host names, IP addresses and ports as the command line gives them.

They end up in certificates (SANs), in mosquitto.conf and in every device's
``device.yaml``, so a typo is refused here rather than found on a Pi later.
"""

from __future__ import annotations

import ipaddress
import re

from healthhub.provisioning.errors import InvalidRequest

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def validate_host(host: str, *, what: str = "broker host") -> str:
    """``host`` if it is an IP address or an RFC 1123 host name, else :class:`InvalidRequest`."""
    if is_ip_address(host) or (len(host) <= 253 and _HOSTNAME.match(host)):
        return host
    raise InvalidRequest(
        f"{what} {host!r} is not a host name or IP address "
        "(e.g. hub.practice.example, 192.168.1.10, localhost)"
    )


def validate_port(port: int, *, what: str = "broker port") -> int:
    if not 1 <= port <= 65535:
        raise InvalidRequest(f"{what} {port} is not a TCP port (1-65535)")
    return port


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES
