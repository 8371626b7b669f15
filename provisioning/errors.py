"""Provisioning errors: each says what to do next."""

from __future__ import annotations

from healthhub.protocol.errors import HealthHubError


class ProvisioningError(HealthHubError):
    """A provisioning step could not be done; nothing was half-written."""


class InvalidRequest(ProvisioningError):
    """The command line asks for something invalid (an id, a role, an interval): exit 2."""


class BrokerNotInstalled(ProvisioningError):
    def __init__(self) -> None:
        super().__init__(
            "mosquitto not found: run `make setup` (installs it with apt-get: "
            "apt-get install mosquitto mosquitto-clients)"
        )
