"""device.yaml: a missing or malformed file exits 2 naming the path and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from healthhub.agent import cli
from healthhub.agent.config import ConfigError, load_config

GOOD = {
    "device": {"id": "wall-1", "site": "practice-a", "role": "wall"},
    "broker": {
        "host": "localhost",
        "port": 8883,
        "ca_file": "ca.crt",
        "cert_file": "device.crt",
        "key_file": "device.key",
    },
    "trust": {"signing_public_key_file": "signing.pub", "ingest_public_key_file": "ingest.pub"},
    "state_dir": "state",
    "peripherals": [
        {"name": "bp", "driver": "blood_pressure", "backend": "simulator", "interval_s": 2}
    ],
}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "device.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_good_config_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.broker.ca_file == tmp_path / "ca.crt"
    assert config.state_dir == tmp_path / "state"
    assert config.peripherals[0].spec().options == {"interval_s": 2}
    assert load_config(write(tmp_path, GOOD), state_dir=tmp_path / "x").state_dir == tmp_path / "x"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c["device"].pop("id"), "device.id"),
        (lambda c: c["device"].update(id="Wall 1"), "device.id"),
        (lambda c: c["broker"].update(port=70000), "broker.port"),
        (lambda c: c["device"].update(role="robot"), "device.role"),
        (lambda c: c.update(surprise=1), "surprise"),
        (lambda c: c["peripherals"].append(dict(c["peripherals"][0])), "peripherals"),
        (
            lambda c: c.update(alerts={"routes": {"fire": {"notify": ["x"]}}}),
            "alerts.routes.fire.[key]",
        ),
        (
            lambda c: c.update(alerts={"routes": {"help_requested": {"notify": []}}}),
            "alerts.routes.help_requested.notify",
        ),
        (
            lambda c: c.update(
                alerts={"routes": {"urgent_result": {"notify": ["gp"], "escalate_after_s": 5}}}
            ),
            "alerts.routes.urgent_result.escalate_after_s",
        ),
    ],
)
def test_invalid_field_is_named(tmp_path: Path, mutate: object, field: str) -> None:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    mutate(data)  # type: ignore[operator]
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.field == field
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("text", ["device: [unclosed", "just a string", ""])
def test_malformed_yaml(tmp_path: Path, text: str) -> None:
    path = tmp_path / "device.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=str(path)):
        load_config(path)


def test_cli_exits_2_with_path_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    del data["broker"]["host"]
    path = write(tmp_path, data)
    with pytest.raises(SystemExit) as exited:
        cli.main(["--config", str(path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "broker.host" in err


def test_cli_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["status", "--config", str(tmp_path / "nope.yaml")])
    assert exited.value.code == 2
    assert "file not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("peripheral", "message"),
    [
        ({"driver": "toaster", "backend": "simulator"}, "unknown driver 'toaster'"),
        ({"driver": "scale", "backend": "bluetooth-9000"}, "no backend 'bluetooth-9000'"),
        ({"driver": "scale", "backend": "simulator", "interval_s": -1}, "interval_s"),
        ({"driver": "scale", "backend": "simulator", "colour": "red"}, "colour"),
    ],
)
def test_peripheral_options_are_checked_when_the_file_loads(
    tmp_path: Path, peripheral: dict[str, object], message: str
) -> None:
    """A bad driver, backend or option stops the agent at start with the entry named, rather
    than leaving a unit that looks ready but whose device can never work."""
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["peripherals"].append({"name": "second", **peripheral})
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, data))
    assert caught.value.field == "peripherals.1"
    assert message in str(caught.value)
    assert "'second'" in str(caught.value)


def test_the_peripherals_guide_example_is_a_valid_device_yaml(tmp_path: Path) -> None:
    """docs/peripherals.md shows installers every kind of part: it must load as written."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "peripherals.md").read_text()
    example = guide.split("```yaml\n", 1)[1].split("```", 1)[0]
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["peripherals"] = yaml.safe_load(example)["peripherals"]
    config = load_config(write(tmp_path, data))
    drivers = {p.driver for p in config.peripherals}
    assert drivers == {
        "blood_pressure",
        "scale",
        "thermometer",
        "pulse_oximeter",
        "height_measure",
        "presence_sensor",
        "help_button",
        "status_led",
        "barcode_scanner",
    }


def test_alert_routes_default_to_the_duty_clinician_and_reception(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.alerts.route_for("urgent_result")["notify"] == ["duty-clinician"]
    assert config.alerts.route_for("help_requested")["notify"] == ["reception"]
    routed = dict(GOOD, alerts={"routes": {"help_requested": {"notify": ["care-navigator"]}}})
    config = load_config(write(tmp_path, routed))
    assert config.alerts.route_for("help_requested") == {
        "notify": ["care-navigator"],
        "escalate_after_s": 300,
        "escalate_to": [],
    }
    assert config.alerts.route_for("urgent_result")["notify"] == ["duty-clinician"]  # default
