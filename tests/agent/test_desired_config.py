"""Remote configuration layers on a device: only a good, newer, signed layer changes anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from healthhub.agent.desired_config import LAYERS_FILE, LayerStore
from healthhub.protocol import canonical, config_layers, signed
from healthhub.protocol.config_layers import LayerRejected, Scope, merge, sources
from healthhub.protocol.signed import generate_signing_key

SEED, VERIFY = generate_signing_key()
OTHER_SEED, _ = generate_signing_key()
AT = "2026-11-23T10:00:00Z"

LOCAL: dict[str, Any] = {
    "device": {"id": "kiosk-1", "site": "practice-a", "role": "kiosk"},
    "broker": {
        "host": "broker.example",
        "ca_file": "ca.crt",
        "cert_file": "device.crt",
        "key_file": "device.key",
    },
    "trust": {"signing_public_key_file": "signing.pub", "ingest_public_key_file": "ingest.pub"},
    "telemetry": {"interval_s": 30},
    "ui": {"languages": ["en", "pl"], "idle_timeout_s": 90},
    "peripherals": [{"name": "bp", "driver": "blood_pressure", "backend": "simulator"}],
}

FLEET = Scope("fleet")
SITE = Scope("site", "practice-a")
DEVICE = Scope("device", "kiosk-1")


def layer(scope: Scope, version: int, settings: dict[str, Any], seed: bytes = SEED) -> bytes:
    return config_layers.encode(config_layers.make(scope, version, AT, settings), seed)


def offer(held: LayerStore, level: str, payload: bytes) -> tuple[Any, Any]:
    """Offer a layer and, if it starts a trial, find it healthy (the agent's part)."""
    config, report = held.offer(level, payload)
    if held.trial is not None:
        report = held.commit()
    return config, report


def store(tmp_path: Path) -> LayerStore:
    return LayerStore(
        tmp_path / "device.yaml",
        LOCAL,
        tmp_path / "state",
        VERIFY,
        device="kiosk-1",
        site="practice-a",
    )


@pytest.fixture
def held(tmp_path: Path) -> LayerStore:
    (tmp_path / "state").mkdir()
    return store(tmp_path)


def test_device_over_site_over_fleet_over_the_local_file(held: LayerStore) -> None:
    offer(held, "device", layer(DEVICE, 1, {"ui": {"idle_timeout_s": 120}}))
    offer(held, "fleet", layer(FLEET, 4, {"ui": {"idle_timeout_s": 60, "warning_s": 40}}))
    config, report = offer(held, "site", layer(SITE, 2, {"ui": {"languages": ["en", "ur"]}}))
    assert config is not None
    assert report is not None
    assert report.state == "applied"
    assert config.ui.idle_timeout_s == 120  # the device layer wins
    assert config.ui.warning_s == 40  # the fleet's, nobody above says otherwise
    assert config.ui.languages == ["en", "ur"]  # a list is replaced whole by the site
    assert config.telemetry.interval_s == 30  # the local file's
    assert config.device.id == "kiosk-1"
    where = sources(held.local, held.layers)
    assert where["ui.idle_timeout_s"] == "device kiosk-1"
    assert where["ui.warning_s"] == "fleet"
    assert where["ui.languages"] == "site practice-a"
    assert where["telemetry.interval_s"] == "local"
    assert where["device.id"] == "local"
    assert {level: r["held"] for level, r in held.reported().items()} == {
        "fleet": 4,
        "site": 2,
        "device": 1,
    }


def test_merge_replaces_lists_and_merges_mappings() -> None:
    assert merge({"a": {"x": 1, "y": [1, 2]}, "b": 1}, {"a": {"y": [3]}, "c": 2}) == {
        "a": {"x": 1, "y": [3]},
        "b": 1,
        "c": 2,
    }


def test_a_retained_layer_sent_again_changes_nothing(held: LayerStore) -> None:
    payload = layer(SITE, 3, {"telemetry": {"interval_s": 10}})
    assert offer(held, "site", payload)[1] is not None
    assert offer(held, "site", payload) == (None, None)


REJECTED = [
    ("forged", lambda: layer(SITE, 9, {"telemetry": {"interval_s": 5}}, OTHER_SEED), "verify"),
    ("older", lambda: layer(SITE, 2, {"telemetry": {"interval_s": 5}}), "not newer than 3"),
    (
        "same version, other content",
        lambda: layer(SITE, 3, {"telemetry": {"interval_s": 5}}),
        "not newer than 3",
    ),
    ("another site's", lambda: layer(Scope("site", "practice-b"), 9, {}), "came on the topic"),
    (
        "schema violation",
        lambda: layer(SITE, 9, {"ui": {"idle_timeout_s": 5}}),
        "ui.idle_timeout_s",
    ),
    (
        "bad peripheral",
        lambda: layer(
            SITE, 9, {"peripherals": [{"name": "x", "driver": "toaster", "backend": "simulator"}]}
        ),
        "unknown driver",
    ),
    ("not JSON", lambda: b"\xff{", "not JSON"),
]


@pytest.mark.parametrize(("name", "payload", "reason"), REJECTED, ids=[r[0] for r in REJECTED])
def test_a_bad_layer_is_rejected_with_its_reason_and_the_old_one_kept(
    held: LayerStore, name: str, payload: Any, reason: str
) -> None:
    good = layer(SITE, 3, {"telemetry": {"interval_s": 10}})
    offer(held, "site", good)
    before = (held.path.read_bytes(), held.effective())
    config, report = offer(held, "site", payload())
    assert config is None
    assert report is not None
    assert report.state == "rejected"
    assert reason in report.reason
    assert report.held == 3
    assert (held.path.read_bytes(), held.effective()) == before
    assert held.reported()["site"]["state"] == "rejected"


def signed_document(settings: dict[str, Any], **fields: Any) -> bytes:
    document = {
        "kind": "config",
        "scope": {"site": "practice-a"},
        "version": 9,
        "issued_at": AT,
        "settings": settings,
        **fields,
    }
    return canonical.dumps(signed.sign(document, SEED))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (signed_document({"broker": {"host": "evil.example"}}), "local-only broker"),
        (signed_document({"device": {"id": "kiosk-9"}}), "local-only device"),
        (signed_document({"trust": {}}), "local-only trust"),
        (signed_document({"colour": "red"}), "unknown setting"),
        (signed_document({}, version=0), "version"),
        (signed_document({}, version=True), "version"),
        (signed_document({}, issued_at="yesterday"), "issued_at"),
        (signed_document({}, kind="command"), "kind"),
        (
            canonical.dumps(
                {
                    "kind": "config",
                    "scope": {"site": "practice-a"},
                    "version": 9,
                    "issued_at": AT,
                    "settings": {},
                }
            ),
            "no Ed25519 signature",
        ),
    ],
)
def test_a_layer_that_touches_identity_or_is_malformed_is_refused_whole(
    payload: bytes, reason: str
) -> None:
    with pytest.raises(LayerRejected, match=reason):
        config_layers.decode(payload, VERIFY, expected=SITE)


def test_the_console_cannot_even_sign_a_layer_that_touches_identity() -> None:
    with pytest.raises(LayerRejected, match="local-only"):
        config_layers.make(FLEET, 1, AT, {"broker": {"host": "x"}})


def test_kept_layers_survive_a_restart_and_a_tampered_copy_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    first = store(tmp_path)
    offer(first, "fleet", layer(FLEET, 1, {"telemetry": {"interval_s": 12}}))
    offer(first, "device", layer(DEVICE, 1, {"ui": {"idle_timeout_s": 200}}))
    again = store(tmp_path)
    assert again.effective() == first.effective()
    assert again.effective().telemetry.interval_s == 12

    kept = json.loads((tmp_path / "state" / LAYERS_FILE).read_text())
    document = json.loads(kept["held"]["device"])
    document["settings"]["ui"]["idle_timeout_s"] = 900  # edited on the card
    kept["held"]["device"] = json.dumps(document)
    (tmp_path / "state" / LAYERS_FILE).write_text(json.dumps(kept))
    tampered = store(tmp_path)
    assert tampered.effective().ui.idle_timeout_s == 90  # the local file's value
    assert tampered.effective().telemetry.interval_s == 12  # the fleet layer still holds
    assert tampered.reported()["device"]["state"] == "rejected"


def test_a_damaged_layers_file_leaves_the_local_file_in_charge(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / LAYERS_FILE).write_bytes(b"\x00\x01 not json")
    assert store(tmp_path).effective().telemetry.interval_s == 30


def test_a_withdrawn_layer_gives_way_to_the_one_below(held: LayerStore) -> None:
    offer(held, "fleet", layer(FLEET, 1, {"telemetry": {"interval_s": 12}}))
    offer(held, "site", layer(SITE, 1, {"telemetry": {"interval_s": 15}}))
    config, report = offer(held, "site", b"")  # the console cleared the retained topic
    assert config is not None
    assert config.telemetry.interval_s == 12
    assert report is not None
    assert report.reason == "layer withdrawn"
    assert offer(held, "site", b"") == (None, None)


def test_a_new_layer_is_on_trial_until_found_healthy(held: LayerStore) -> None:
    offer(held, "site", layer(SITE, 1, {"telemetry": {"interval_s": 12}}))
    config, report = held.offer("site", layer(SITE, 2, {"telemetry": {"interval_s": 14}}))
    assert config is not None
    assert config.telemetry.interval_s == 14
    assert report is not None
    assert report.state == "applying"
    assert report.held == 1  # what the console counts as applied: not yet version 2
    with pytest.raises(RuntimeError):
        held.offer("fleet", layer(FLEET, 1, {}))  # one trial at a time
    assert held.commit().to_json()["held"] == 2
    assert held.reported()["site"]["state"] == "applied"


def test_a_failed_trial_rolls_back_and_is_not_tried_again(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    held = store(tmp_path)
    offer(held, "device", layer(DEVICE, 1, {"telemetry": {"interval_s": 12}}))
    bad = layer(DEVICE, 2, {"telemetry": {"interval_s": 99}})
    held.offer("device", bad)
    config, report = held.roll_back("peripheral scale failed: permission denied")
    assert config.telemetry.interval_s == 12
    assert report.state == "rolled_back"
    assert report.version == 2
    assert report.held == 1
    assert held.offer("device", bad) == (None, None)  # the broker re-sends it on reconnect
    again = store(tmp_path)  # and after a restart
    assert again.effective().telemetry.interval_s == 12
    assert again.offer("device", bad) == (None, None)
    assert again.reported()["device"]["state"] == "rolled_back"
    config, _ = offer(again, "device", layer(DEVICE, 3, {"telemetry": {"interval_s": 15}}))
    assert config is not None
    assert config.telemetry.interval_s == 15  # a newer version is tried


def test_a_trial_cut_short_by_a_power_cut_is_checked_again_at_start(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    held = store(tmp_path)
    offer(held, "fleet", layer(FLEET, 1, {"telemetry": {"interval_s": 12}}))
    held.offer("fleet", layer(FLEET, 2, {"telemetry": {"interval_s": 13}}))
    restarted = store(tmp_path)  # no commit: the agent died during the health check
    assert restarted.trial is not None
    assert restarted.trial.version == 2
    assert restarted.effective().telemetry.interval_s == 13
    config, _ = restarted.roll_back("the agent stopped during the health check")
    assert config.telemetry.interval_s == 12
    assert store(tmp_path).effective().telemetry.interval_s == 12
