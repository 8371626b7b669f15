"""Provisioning errors: each says what to do next.

``healthhub-provision`` exits 2 for :class:`InvalidRequest` (the command line
asks for something impossible) and 1 for every other :class:`ProvisioningError`
(a refusal or a failure; nothing is left half-written).
"""

from __future__ import annotations

from healthhub.protocol.errors import HealthHubError


class ProvisioningError(HealthHubError):
    """A provisioning step could not be done; nothing was half-written."""


class InvalidRequest(ProvisioningError):
    """The command line asks for something invalid (an id, a host, a port): exit 2."""


class AlreadyExists(ProvisioningError):
    """A fleet or a device that exists already: provisioning never overwrites one."""


class BrokerNotInstalled(ProvisioningError):
    """No mosquitto binary on this machine."""

    def __init__(self) -> None:
        super().__init__(
            "mosquitto not found: run `make setup` (installs it with apt-get), "
            "or `apt-get install mosquitto mosquitto-clients`"
        )


class BrokerStartError(ProvisioningError):
    """mosquitto did not start, or did not start listening; the message ends with its log."""
