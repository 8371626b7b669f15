"""Pi health settings: thresholds may be pushed (validated), where health is read may not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from healthhub.agent.config import ConfigError, load_config
from healthhub.agent.desired_config import LayerStore
from healthhub.protocol import config_layers
from healthhub.protocol.config_layers import LayerRejected, Scope
from healthhub.protocol.signed import generate_signing_key

SEED, VERIFY = generate_signing_key()
AT = "2026-11-23T10:00:00Z"
LOCAL: dict[str, Any] = {
    "device": {"id": "wall-1", "site": "practice-a"},
    "broker": {
        "host": "broker.example",
        "ca_file": "ca.crt",
        "cert_file": "device.crt",
        "key_file": "device.key",
    },
    "trust": {"signing_public_key_file": "signing.pub", "ingest_public_key_file": "ingest.pub"},
}


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "device.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_are_the_documented_thresholds_and_a_pis_sources(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, LOCAL))
    health = config.telemetry.health
    assert (health.cpu_warning_c, health.cpu_critical_c, health.cpu_hysteresis_c) == (80, 85, 5)
    assert health.under_voltage == "since_boot"
    assert health.sd_life_used_percent == 90
    assert (health.disk_free_min_percent, health.disk_free_min_mb) == (10, 500)
    sources = config.health_sources
    assert (sources.sys_root, sources.proc_root) == (Path("/sys"), Path("/proc"))
    assert sources.vcgencmd == Path("/usr/bin/vcgencmd")
    assert config.alerts.route_for("device_health")["notify"] == ["it-support"]


def test_relative_sources_resolve_against_the_files_folder(tmp_path: Path) -> None:
    data = {**LOCAL, "health_sources": {"sys_root": "fake/sys", "vcgencmd": None}}
    config = load_config(write(tmp_path, data))
    assert config.health_sources.sys_root == tmp_path / "fake/sys"
    assert config.health_sources.vcgencmd is None


@pytest.mark.parametrize(
    ("health", "field"),
    [
        ({"cpu_warning_c": 86, "cpu_critical_c": 85}, "telemetry.health"),
        ({"cpu_warning_c": 200}, "telemetry.health.cpu_warning_c"),
        ({"under_voltage": "sometimes"}, "telemetry.health.under_voltage"),
        ({"disk_free_min_percent": -1}, "telemetry.health.disk_free_min_percent"),
        ({"fan": True}, "telemetry.health.fan"),
    ],
)
def test_bad_thresholds_are_refused_naming_the_field(
    tmp_path: Path, health: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, {**LOCAL, "telemetry": {"health": health}}))
    assert caught.value.field == field


def layer(version: int, settings: dict[str, Any]) -> bytes:
    return config_layers.encode(
        config_layers.make(Scope("site", "practice-a"), version, AT, settings), SEED
    )


def test_a_pushed_layer_sets_thresholds_and_a_bad_one_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    held = LayerStore(
        write(tmp_path, LOCAL), LOCAL, tmp_path / "state", VERIFY, device="wall-1",
        site="practice-a",
    )  # fmt: skip
    config, _ = held.offer("site", layer(1, {"telemetry": {"health": {"cpu_warning_c": 75}}}))
    if held.trial is not None:
        held.commit()
    assert config is not None
    assert config.telemetry.health.cpu_warning_c == 75
    bad = layer(2, {"telemetry": {"health": {"cpu_warning_c": 90, "cpu_critical_c": 85}}})
    config, report = held.offer("site", bad)
    assert config is None
    assert report is not None
    assert report.state == "rejected"
    assert "telemetry.health" in report.reason
    assert held.effective().telemetry.health.cpu_warning_c == 75


def test_where_health_is_read_can_never_be_pushed() -> None:
    """A layer that could name the program the agent runs would be remote code execution."""
    with pytest.raises(LayerRejected, match="local-only health_sources"):
        config_layers.make(Scope("fleet"), 1, AT, {"health_sources": {"vcgencmd": "/bin/sh"}})
