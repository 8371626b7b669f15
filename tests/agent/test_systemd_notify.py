"""sd_notify over a real datagram socket, as systemd provides it."""

from __future__ import annotations

import socket
from pathlib import Path

from healthhub.agent.systemd_notify import SystemdNotifier


def test_notify_sends_datagrams(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        notifier = SystemdNotifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "20000000"})
        assert notifier.enabled
        assert notifier.watchdog_interval_s == 10.0
        notifier.ready("connected")
        notifier.watchdog()
        assert server.recv(1024) == b"READY=1\nSTATUS=connected"
        assert server.recv(1024) == b"WATCHDOG=1"


def test_abstract_namespace_socket() -> None:
    name = f"healthhub-test-{id(object())}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).stopping()
        assert server.recv(1024) == b"STOPPING=1"


def test_without_systemd_nothing_happens() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert not notifier.watchdog_enabled
    notifier.ready("x")  # no socket, no error
