"""Importing this module registers every serial backend (``registry._BUILTIN`` names it).

pyserial itself is imported only when a port opens, so this imports on any machine.
"""

from __future__ import annotations

from healthhub.drivers.serial import (  # noqa: F401 - imported for their @register
    accutorr_monitor,
    adam_mdw_scale,
    line_scanner,
    scanner_simulator,
)
