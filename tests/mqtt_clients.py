"""mosquitto_sub / mosquitto_pub with a fleet's certificates: independent MQTT v5 peers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from healthhub.protocol.fleet_layout import FleetLayout, load_manifest


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} not found: run `make setup` (apt-get install mosquitto-clients)"
    return found


def identity(fleet: FleetLayout, who: str) -> list[str]:
    """TLS arguments for ``bridge``, ``console``, a device id, or ``none`` (no certificate)."""
    port = str(load_manifest(fleet).broker_port)
    base = ["-h", "localhost", "-p", port, "-V", "mqttv5", "--cafile", str(fleet.ca_cert)]
    if who == "none":
        return base
    if who in ("bridge", "console"):
        files = fleet.client(who)
        return [*base, "--cert", str(files.cert), "--key", str(files.key)]
    bundle = fleet.device_dir(who)
    return [*base, "--cert", str(bundle / "device.crt"), "--key", str(bundle / "device.key")]


def subscribe(
    fleet: FleetLayout, who: str, topic: str, *, count: int, wait_s: float
) -> subprocess.CompletedProcess[str]:
    """Collect up to ``count`` messages (or until ``wait_s`` passes) as ``topic payload`` lines."""
    return subprocess.run(
        [
            _tool("mosquitto_sub"),
            *identity(fleet, who),
            "-t",
            topic,
            "-v",
            "-C",
            str(count),
            "-W",
            str(int(wait_s)),
        ],
        capture_output=True,
        text=True,
        timeout=wait_s + 10,
        check=False,
    )


def subscriber(fleet: FleetLayout, who: str, topic: str, out: Path) -> subprocess.Popen[bytes]:
    """A background subscriber writing ``topic payload`` lines to ``out``."""
    return subprocess.Popen(
        [_tool("mosquitto_sub"), *identity(fleet, who), "-t", topic, "-v"],
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
    )


def publish(
    fleet: FleetLayout, who: str, topic: str, payload: bytes, *, retain: bool = False
) -> subprocess.CompletedProcess[str]:
    argv = [_tool("mosquitto_pub"), *identity(fleet, who), "-t", topic, "-q", "1", "-s"]
    if retain:
        argv.append("-r")
    return subprocess.run(
        argv,
        input=payload.decode("latin-1"),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
