"""healthhub-provision broker: mosquitto.conf and the ACL (as files; test_broker_access.py
checks them against the real mosquitto)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest
from processes import run_cli

from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_config import render_acl, write_broker_config
from healthhub.provisioning.enrolment import enrol_device
from healthhub.provisioning.errors import InvalidRequest
from healthhub.provisioning.fleet import init_fleet

Grants = dict[str, set[tuple[str, str]]]


def parse_acl(text: str) -> Grants:
    """user -> {(access, topic)}; fails on any line mosquitto would read otherwise."""
    grants: Grants = {}
    user: str | None = None
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "user":
            user = words[1]
            assert user not in grants, f"user {user} appears twice"
            grants[user] = set()
        else:
            assert words[0] == "topic", line
            assert len(words) == 3, line
            assert user is not None, f"{line!r} would apply to every client"
            grants[user].add((words[1], words[2]))
    return grants


def conf_lines(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


@pytest.fixture
def made(tmp_path: Path) -> FleetLayout:
    layout = init_fleet(
        tmp_path / "f", name="North PCN", broker_host="hub.practice.example", broker_port=18884
    )
    for device, site in (("wall-1", "practice-a"), ("kiosk-2", "practice-b")):
        enrol_device(layout, device=device, site=site)
    return layout


def device_grants(device: str, site: str) -> set[tuple[str, str]]:
    own = f"healthhub/v1/devices/{device}"
    return {
        ("write", f"{own}/status"),
        ("write", f"{own}/telemetry"),
        ("write", f"{own}/up/#"),
        ("write", f"{own}/config/reported"),
        ("write", f"{own}/content/reported"),
        ("write", f"{own}/software/reported"),
        ("write", f"{own}/cmd/res"),
        ("read", f"{own}/ack"),
        ("read", f"{own}/config"),
        ("read", f"{own}/content"),
        ("read", f"{own}/cmd/req"),
        ("read", f"healthhub/v1/sites/{site}/config"),
        ("read", f"healthhub/v1/sites/{site}/content"),
        ("read", "healthhub/v1/fleet/config"),
        ("read", "healthhub/v1/fleet/content"),
        ("read", "healthhub/v1/content/blobs/#"),
        ("read", f"{own}/software"),
        ("read", f"healthhub/v1/sites/{site}/software"),
        ("read", "healthhub/v1/fleet/software"),
    }


def test_acl_for_two_devices_on_two_sites(made: FleetLayout) -> None:
    run_cli("healthhub-provision", "broker", str(made.root))
    grants = parse_acl(made.broker_acl.read_text())
    assert grants == {
        "healthhub-bridge": {
            ("read", "healthhub/v1/devices/+/up/#"),
            ("read", "healthhub/v1/devices/+/status"),
            ("read", "healthhub/v1/devices/+/telemetry"),
            ("read", "healthhub/v1/devices/+/config/reported"),
            ("read", "healthhub/v1/devices/+/content/reported"),
            ("read", "healthhub/v1/devices/+/software/reported"),
            ("read", "healthhub/v1/devices/+/cmd/res"),
            ("read", "healthhub/v1/devices/+/ack"),
            ("write", "healthhub/v1/devices/+/ack"),
        },
        "healthhub-console": {
            ("read", "healthhub/v1/#"),
            ("write", "healthhub/v1/fleet/config"),
            ("write", "healthhub/v1/fleet/content"),
            ("write", "healthhub/v1/sites/+/config"),
            ("write", "healthhub/v1/sites/+/content"),
            ("write", "healthhub/v1/devices/+/config"),
            ("write", "healthhub/v1/devices/+/content"),
            ("write", "healthhub/v1/devices/+/cmd/req"),
            ("write", "healthhub/v1/content/blobs/#"),
            ("write", "healthhub/v1/fleet/software"),
            ("write", "healthhub/v1/sites/+/software"),
            ("write", "healthhub/v1/devices/+/software"),
        },
        "wall-1": device_grants("wall-1", "practice-a"),
        "kiosk-2": device_grants("kiosk-2", "practice-b"),
    }
    assert made.broker_acl.read_text().startswith("# Health Hub ACL")


def test_acl_follows_enrolment(made: FleetLayout) -> None:
    assert "user wall-3" not in render_acl(made)
    enrol_device(made, device="wall-3", site="practice-a")
    assert parse_acl(render_acl(made))["wall-3"] == device_grants("wall-3", "practice-a")


def test_broker_config(made: FleetLayout) -> None:
    result = run_cli("healthhub-provision", "broker", str(made.root), "--bind", "127.0.0.1")
    assert str(made.broker_conf) in result.stdout
    root = made.root.resolve()
    assert conf_lines(made.broker_conf) == [
        "per_listener_settings false",
        "allow_anonymous false",
        f"user {pwd.getpwuid(os.geteuid()).pw_name}",
        "persistence true",
        f"persistence_location {root}/broker/data/",
        "autosave_interval 30",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        "max_queued_messages 200000",
        "max_inflight_messages 1000",
        "message_size_limit 262144",
        "max_packet_size 1048576",
        "listener 18884 127.0.0.1",
        f"cafile {root}/ca/ca.crt",
        f"certfile {root}/broker/server.crt",
        f"keyfile {root}/broker/server.key",
        "require_certificate true",
        "use_identity_as_username true",
        "tls_version tlsv1.2",
        f"crlfile {root}/ca/crl.pem",
        f"acl_file {root}/broker/acl",
    ]
    assert made.broker_data.is_dir()
    assert "Permission denied" in made.broker_conf.read_text()  # the comment says why `user`


@pytest.mark.parametrize(
    ("host", "bind"),
    [("localhost", "127.0.0.1"), ("127.0.0.1", "127.0.0.1"), ("hub.example", "0.0.0.0")],
)
def test_default_bind(tmp_path: Path, host: str, bind: str) -> None:
    layout = init_fleet(tmp_path / "f", name="X", broker_host=host, broker_port=18885)
    write_broker_config(layout)
    assert f"listener 18885 {bind}" in conf_lines(layout.broker_conf)


def test_bad_bind_exits_2(made: FleetLayout) -> None:
    result = run_cli(
        "healthhub-provision", "broker", str(made.root), "--bind", "0.0.0.0 1", check=False
    )
    assert result.returncode == 2
    assert "bind address" in result.stderr
    assert not made.broker_conf.exists()
    with pytest.raises(InvalidRequest):
        write_broker_config(made, bind="a/b")


@pytest.mark.parametrize("command", [[], ["init"], ["device"], ["broker"]])
def test_help(command: list[str]) -> None:
    result = run_cli("healthhub-provision", *command, "--help")
    assert "usage: healthhub-provision" in result.stdout
    assert "FLEET_DIR" in result.stdout or not command
