"""``healthhub-fleet content push``: a folder of information content to a scope's devices.

Every file is split into chunks of at most 192 KiB (the broker's message limit is 256 KiB),
each published retained on ``content/blobs/{sha256}`` (the same bytes always land on the
same topic, so a file already pushed costs nothing new on the devices), then the signed
manifest on the scope's content topic, with the next version. Devices fetch what they lack,
check every hash, and report on ``content/reported``; ``--wait`` follows those reports.

The folder is checked whole before anything is published: a file name the devices would
refuse (hidden, ``..``, a symbolic link) stops the push with the reason, and so does any
invalid patient document (a form, an information page, ``services.yaml``, ``support.yaml``,
``notices.yaml``: :func:`~healthhub.protocol.patient_content.check_content_folder`), every
fault listed with its file and place. Warnings (a page past its clinical review date) are
printed to stderr and do not stop the push.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from paho.mqtt.client import MQTTMessageInfo

from healthhub.fleet.config_push import PushOutcome, follow, retained_version, targets
from healthhub.fleet.console_session import ConsoleSession, acknowledged
from healthhub.fleet.registry import DeviceRegistry
from healthhub.protocol import content, topics
from healthhub.protocol.clock import now_utc
from healthhub.protocol.config_layers import Scope
from healthhub.protocol.content import ContentRejected
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.keys import read_key
from healthhub.protocol.patient_content import check_content_folder

#: Publishes in flight before the console waits for their PUBACKs (memory: 64 chunks).
PUBLISH_WINDOW = 64


def push(
    layout: FleetLayout,
    scope: Scope,
    folder: Path,
    *,
    wait_s: float | None = None,
    progress: Any = None,
) -> PushOutcome:
    """Publish ``folder``'s files and their manifest as ``scope``'s next content version."""
    entries = content.scan_folder(folder)
    if not entries:
        raise ContentRejected(f"{folder} holds no files")
    for warning in check_content_folder(folder):
        print(f"warning: {warning}", file=sys.stderr)
    if scope.level == "device" and scope.target not in DeviceRegistry(layout).devices():
        raise ContentRejected(f"device {scope.target} is not enrolled in this fleet")
    seed = read_key(layout.signing_key)
    verify_key = read_key(layout.signing_pub)
    session = ConsoleSession(layout, "content")
    try:
        session.subscribe(
            [(scope.content_topic(), 1), (f"{topics.ROOT}/devices/+/content/reported", 1)]
        )
        held = retained_version(
            session.snapshot().get(scope.content_topic()),
            lambda payload: content.decode(payload, verify_key, expected=scope).version,
        )
        publish_blobs(session, [path for _, path in entries])
        reached = targets(layout, scope)  # before the manifest is made: it reads every enrolment
        manifest = content.make(scope, held + 1, now_utc(), [file for file, _ in entries])
        session.publish(scope.content_topic(), content.encode(manifest, seed), retain=True)
        outcome = PushOutcome(scope, manifest.version, reached, manifest.issued_at)
        follow(session, outcome, "/content/reported", wait_s, progress)
        return outcome
    finally:
        session.close()


def publish_blobs(session: ConsoleSession, paths: list[Path]) -> None:
    sent: set[str] = set()
    in_flight: list[MQTTMessageInfo] = []
    for path in paths:
        for sha, data in content.iter_chunks(path):
            if sha in sent or not data:  # an empty retained message would clear the topic
                continue
            sent.add(sha)
            in_flight.append(
                session.publish(topics.content_blob(sha), data, retain=True, wait=False)
            )
            if len(in_flight) >= PUBLISH_WINDOW:
                acknowledged(in_flight.pop(0))
    for info in in_flight:
        acknowledged(info)
