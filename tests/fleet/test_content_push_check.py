"""``content push`` checks patient documents before anything is published, and the console
says which file and place is wrong."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest
import yaml

from healthhub.fleet import control_cli
from healthhub.fleet.content_push import push
from healthhub.protocol.config_layers import Scope
from healthhub.protocol.content import ContentRejected
from healthhub.protocol.fleet_layout import FleetLayout

STARTER = Path(__file__).resolve().parents[2] / "fleet" / "starter_content"


@pytest.fixture
def bad_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    shutil.copytree(STARTER, folder)
    services = folder / "services.yaml"
    data = yaml.safe_load(services.read_text(encoding="utf-8"))
    data["services"][3]["category"] = "exercise"
    services.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


def test_a_push_of_invalid_content_stops_before_any_key_or_broker_is_touched(
    tmp_path: Path, bad_folder: Path
) -> None:
    # An empty fleet folder: reading the signing key or connecting would fail differently.
    layout = FleetLayout(tmp_path / "no-fleet-here")

    with pytest.raises(ContentRejected) as caught:
        push(layout, Scope("site", "practice-a"), bad_folder)

    assert "services.yaml: services[3].category: 'exercise' is not a declared category" in str(
        caught.value
    )


def test_the_console_prints_each_problem_and_exits_2(
    tmp_path: Path, bad_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    (fleet / "fleet.yaml").write_text("name: test\n")
    args = argparse.Namespace(
        fleet=fleet,
        fleet_wide=False,
        site="practice-a",
        device=None,
        folder=bad_folder,
        wait=False,
        timeout=1.0,
        json=False,
    )

    assert control_cli.content_push(args) == 2

    err = capsys.readouterr().err
    assert err.startswith(f"healthhub-fleet content push: {bad_folder}: 1 problem(s) in ")
    assert "\n - services.yaml: services[3].category: 'exercise' is not a declared" in err
