"""Which devices the fleet has enrolled, and their site, read from the fleet folder.

The broker's ACL proves which device sent a message (the topic); this tells
the bridge which site that device belongs to, so a device cannot file
readings as another practice's.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import yaml

from healthhub.protocol.fleet_layout import FleetLayout

log = logging.getLogger(__name__)

RESCAN_INTERVAL_S = 5.0


class DeviceRegistry:
    def __init__(self, layout: FleetLayout) -> None:
        self.layout = layout
        self._sites: dict[str, str] = {}
        self._scanned = 0.0
        self.rescan()

    def rescan(self) -> None:
        sites: dict[str, str] = {}
        for path in sorted(Path(self.layout.devices_dir).glob("*/device.yaml")):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
                sites[str(data["device"]["id"])] = str(data["device"]["site"])
            except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
                log.warning("enrolment %s unreadable: %s", path, exc)
        self._sites = sites
        self._scanned = time.monotonic()

    def site_of(self, device: str) -> str | None:
        if device not in self._sites and time.monotonic() - self._scanned > RESCAN_INTERVAL_S:
            self.rescan()  # enrolled since we last looked
        return self._sites.get(device)

    def devices(self) -> dict[str, str]:
        """Every enrolled device and its site, looked at again every few seconds (a
        long-running dashboard sees a device enrolled, or moved to another site, since)."""
        if time.monotonic() - self._scanned > RESCAN_INTERVAL_S:
            self.rescan()
        return dict(self._sites)
