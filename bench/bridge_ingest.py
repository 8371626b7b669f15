"""Bridge ingest benchmark: envelopes filed per second by 1 and 2 shared bridges; JSON.

    .venv/bin/python bench/bridge_ingest.py [--devices 20] [--per-device 1000] [--no-postgres]

A throw-away fleet (``init_fleet``; ``enrol_device`` for every device: its own key and
certificate, its own ACL entry) and a real mosquitto with the generated configuration (mTLS,
ACL). Each device's envelopes are made as the agent makes them: a blood-pressure reading,
``seq`` 1..N, a UUIDv7 id, the body sealed to the fleet's ingest key
(``protocol.envelope.seal_envelope``). The devices publish them at QoS 1 with their own
certificates, each on its own connection.

Every phase drains the same backlog (devices x per-device envelopes) from the broker:

- ``raw``: plain paho subscribers with the bridge's certificate and TLS, counting messages
  and nothing else (paho acknowledges at once): 1 subscriber, then 2 in one
  ``$share`` group. The ceiling the broker and paho set on this machine.
- ``sqlite`` / ``postgresql``: ``healthhub-fleet bridge --share GROUP`` processes, 1 then 2,
  filing into a fresh store: every envelope checked, its body opened, committed, PUBACKed
  after the commit and confirmed with the retained ack. Done when every device's retained
  ack (watched by an independent console-identity subscriber) reaches its last seq.

The consumers connect and subscribe first and are then paused (SIGSTOP), the backlog is
published, and the clock starts when they are resumed (SIGCONT): start-up is not measured,
and the broker has already handed out the round robin of a shared group. Each consumer runs
with session expiry 0, so that no phase leaves a session behind that takes a share of the
next (``docs/scaling.md``). PostgreSQL is a throw-away cluster (``tests/postgres_server.py``)
with ``fsync=on`` on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from healthhub.agent.service import MAX_INFLIGHT
from healthhub.protocol import topics
from healthhub.protocol.clock import format_utc
from healthhub.protocol.envelope import Envelope, seal_envelope
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.ids import uuid7
from healthhub.protocol.keys import read_key
from healthhub.protocol.sealed import Sealer
from healthhub.protocol.status import parse_ack
from healthhub.protocol.tls import client_context
from healthhub.provisioning.broker_config import write_broker_config
from healthhub.provisioning.broker_process import BrokerProcess
from healthhub.provisioning.enrolment import enrol_device
from healthhub.provisioning.fleet import init_fleet

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
SITE = "bench-site"
DRAIN_TIMEOUT_S = 600.0
#: A paused consumer must not miss its keepalive (30 s, the broker allows 45): the backlog
#: is published well within this.
SETTLE_S = 1.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client(fleet: FleetLayout, who: str, client_id: str) -> mqtt.Client:
    """A connected-to-be MQTT v5 client with ``who``'s certificate (bridge, console, device)."""
    if who in ("bridge", "console"):
        files = fleet.client(who)
        cert, key = files.cert, files.key
    else:
        cert, key = fleet.device_dir(who) / "device.crt", fleet.device_dir(who) / "device.key"
    made = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
    )
    made.tls_set_context(client_context(fleet.ca_cert, cert, key))
    return made


def envelopes(fleet: FleetLayout, device: str, count: int) -> list[bytes]:
    """``count`` sealed blood-pressure envelopes of ``device``, seq 1..count."""
    sealer = Sealer(read_key(fleet.ingest_pub))
    made = []
    for seq in range(1, count + 1):
        clear = Envelope(
            id=str(uuid7()),
            device=device,
            site=SITE,
            seq=seq,
            stream="readings",
            kind="blood_pressure",
            at=format_utc(datetime.now(UTC)),
            body={
                "components": [
                    {"code": "systolic", "value": 120 + seq % 40, "unit": "mm[Hg]"},
                    {"code": "diastolic", "value": 70 + seq % 20, "unit": "mm[Hg]"},
                    {"code": "pulse", "value": 60 + seq % 30, "unit": "/min"},
                ],
                "source": {"peripheral": "bp", "driver": "blood_pressure", "backend": "bench"},
            },
        )
        made.append(seal_envelope(sealer, clear).to_bytes())
    return made


def publish_backlog(fleet: FleetLayout, port: int, backlog: dict[str, list[bytes]]) -> float:
    """Every device publishes its envelopes in seq order (QoS 1, the agent's in-flight window,
    each on its own connection); seconds until every PUBACK is back."""
    clients, done = [], threading.Semaphore(0)
    for device in backlog:
        made = client(fleet, device, f"{device}-bench")
        made.max_inflight_messages_set(MAX_INFLIGHT)
        made.connect("localhost", port)
        made.loop_start()
        clients.append(made)
    for made in clients:
        while not made.is_connected():
            time.sleep(0.01)
    started = time.monotonic()

    def send(made: mqtt.Client, device: str) -> None:
        infos = [made.publish(topics.up(device, "readings"), p, qos=1) for p in backlog[device]]
        for info in infos:
            info.wait_for_publish(DRAIN_TIMEOUT_S)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"{device}: publish failed ({info.rc})")
        done.release()

    for made, device in zip(clients, backlog, strict=True):
        threading.Thread(target=send, args=(made, device), daemon=True).start()
    for _ in clients:
        done.acquire()
    elapsed = time.monotonic() - started
    for made in clients:
        made.disconnect()
        made.loop_stop()
    return elapsed


class AckWatcher:
    """The console's view of every device's retained ack: when did the last one reach N?"""

    def __init__(self, fleet: FleetLayout, port: int) -> None:
        self._lock = threading.Condition()
        self._acks: dict[str, int] = {}
        self._client = client(fleet, "console", "console-bench")
        self._client.on_message = self._on_message
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe(
            f"{topics.ROOT}/devices/+/ack", qos=0
        )
        self._client.connect("localhost", port)
        self._client.loop_start()

    def _on_message(self, c: mqtt.Client, u: Any, message: mqtt.MQTTMessage) -> None:
        if message.retain or not message.payload:
            return  # an earlier phase's
        device, _ = topics.parse_device_topic(message.topic)
        with self._lock:
            self._acks[device] = max(self._acks.get(device, 0), parse_ack(bytes(message.payload)))
            self._lock.notify_all()

    def reset(self) -> None:
        with self._lock:
            self._acks.clear()

    def wait_all(self, devices: list[str], seq: int) -> float:
        """The moment (monotonic) every device's ack had reached ``seq``."""
        with self._lock:
            if not self._lock.wait_for(
                lambda: all(self._acks.get(d, 0) >= seq for d in devices), DRAIN_TIMEOUT_S
            ):
                raise RuntimeError(f"acks did not reach {seq}: {self._acks}")
        return time.monotonic()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def raw_member(argv: list[str]) -> int:
    """A plain subscriber process: counts, prints ``ready``, then ``COUNT LAST_MONOTONIC``
    whenever it has been idle for 0.2 s after receiving something."""
    fleet_root, port, client_id, share = argv
    fleet = FleetLayout(Path(fleet_root))
    count, last = 0, 0.0
    lock = threading.Lock()
    made = client(fleet, "bridge", client_id)

    def on_message(c: mqtt.Client, u: Any, message: mqtt.MQTTMessage) -> None:
        nonlocal count, last
        with lock:
            count += 1
            last = time.monotonic()

    made.on_message = on_message
    made.on_subscribe = lambda *a: print("ready", flush=True)
    made.on_connect = lambda c, u, f, rc, p: c.subscribe(
        f"$share/{share}/{topics.ALL_UP}" if share != "-" else topics.ALL_UP, qos=1
    )
    made.connect("localhost", int(port))
    made.loop_start()
    reported = 0
    while True:
        time.sleep(0.2)
        with lock:
            if count != reported and time.monotonic() - last >= 0.2:
                reported = count
                print(f"{count} {last}", flush=True)


class Consumers:
    """Consumer processes: started, ready, paused while the backlog is published, resumed."""

    def __init__(self, processes: list[subprocess.Popen[Any]]) -> None:
        self.processes = processes

    def pause(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGSTOP)

    def resume(self) -> float:
        started = time.monotonic()
        for process in self.processes:
            process.send_signal(signal.SIGCONT)
        return started

    def cpu(self) -> float:
        return round(sum(cpu_seconds(process.pid) for process in self.processes), 2)


def drain_raw(
    fleet: FleetLayout, port: int, backlog: dict[str, list[bytes]], n: int
) -> dict[str, Any]:
    """``n`` plain subscribers (``n`` > 1: one ``$share`` group) drain the backlog."""
    total = sum(len(v) for v in backlog.values())
    share = f"raw{n}" if n > 1 else "-"
    argv = [sys.executable, __file__, "raw-member", str(fleet.root), str(port)]
    processes = [
        subprocess.Popen([*argv, f"raw-{n}-{i}", share], stdout=subprocess.PIPE, text=True)
        for i in range(n)
    ]
    latest: dict[int, tuple[int, float]] = {}
    changed = threading.Condition()

    def follow(i: int, stdout: Any) -> None:
        for line in stdout:
            if line.strip() == "ready":
                continue
            count, last = line.split()
            with changed:
                latest[i] = (int(count), float(last))
                changed.notify_all()

    for i, process in enumerate(processes):
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("a raw subscriber did not subscribe")
        threading.Thread(target=follow, args=(i, process.stdout), daemon=True).start()
    consumers = Consumers(processes)
    time.sleep(SETTLE_S)
    consumers.pause()
    published_s = publish_backlog(fleet, port, backlog)
    cpu_before = consumers.cpu()
    started = consumers.resume()
    with changed:
        if not changed.wait_for(
            lambda: sum(c for c, _ in latest.values()) >= total, DRAIN_TIMEOUT_S
        ):
            raise RuntimeError(f"raw subscribers got {latest} of {total}")
    seconds = max(last for _, last in latest.values()) - started
    cpu = consumers.cpu() - cpu_before
    for process in processes:
        process.kill()
        process.wait()
    return {
        "consumers": n,
        "envelopes": total,
        "seconds": round(seconds, 2),
        "per_s": round(total / seconds),
        "per_consumer_per_s": round(total / seconds / n),
        "split": [latest[i][0] for i in range(n)],
        "cpu_seconds": round(cpu, 2),
        "backlog_published_per_s": round(total / published_s),
    }


def bridge_report(log: Path) -> dict[str, Any]:
    """The counters a bridge logged when it stopped."""
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if "bridge stopped: " in line:
            return dict(json.loads(line.split("bridge stopped: ", 1)[1]))
    raise RuntimeError(f"no final report in {log}")


def drain_bridges(
    fleet: FleetLayout,
    broker: BrokerProcess,
    backlog: dict[str, list[bytes]],
    acks: AckWatcher,
    *,
    store: str,
    n: int,
    label: str,
    logs: Path,
) -> dict[str, Any]:
    """``n`` bridges of one ``--share`` group file the backlog into ``store``."""
    total = sum(len(v) for v in backlog.values())
    per_device = len(next(iter(backlog.values())))
    acks.reset()
    processes, log_paths = [], []
    for i in range(n):
        log_paths.append(logs / f"{label}-{n}-{i}.log")
        with log_paths[-1].open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [
                        str(BIN / "healthhub-fleet"),
                        "bridge",
                        "--fleet",
                        str(fleet.root),
                        "--store",
                        store,
                        "--share",
                        f"{label}{n}",
                        "--instance",
                        f"{label}{n}-{i}",
                        "--session-expiry",
                        "0",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    deadline = time.monotonic() + 60
    while not all("bridge connected" in p.read_text(errors="replace") for p in log_paths):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            raise RuntimeError(f"bridges did not connect: see {logs}")
        time.sleep(0.05)
    consumers = Consumers(processes)
    time.sleep(SETTLE_S)  # the SUBSCRIBE follows the log line
    consumers.pause()
    published_s = publish_backlog(fleet, broker.port, backlog)
    cpu_before, broker_before = consumers.cpu(), cpu_seconds(broker.pid or 0)
    started = consumers.resume()
    finished = acks.wait_all(list(backlog), per_device)
    cpu = consumers.cpu() - cpu_before
    broker_cpu = cpu_seconds(broker.pid or 0) - broker_before
    for process in processes:
        process.terminate()
        process.wait(30)
    reports = [bridge_report(p) for p in log_paths]
    stored = sum(r["stored"] for r in reports)
    if stored != total:
        raise RuntimeError(f"{label}: {stored} of {total} filed")
    seconds = finished - started
    return {
        "bridges": n,
        "envelopes": total,
        "seconds": round(seconds, 2),
        "per_s": round(total / seconds),
        "per_bridge_per_s": round(total / seconds / n),
        "split": [r["stored"] for r in reports],
        "batches": [r["batches"] for r in reports],
        "cpu_seconds_bridges": round(cpu, 2),
        "cpu_seconds_mosquitto": round(broker_cpu, 2),
        "backlog_published_per_s": round(total / published_s),
    }


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version()}


def postgres_server() -> tuple[Any, str | None]:
    """The throw-away PostgreSQL of tests/postgres_server.py, or why there is none."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from postgres_server import PostgresServer
    except ImportError as exc:
        return None, f"tests/postgres_server.py unavailable: {exc}"
    try:
        return PostgresServer(), None
    except RuntimeError as exc:
        return None, str(exc)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "raw-member":
        return raw_member(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--per-device", type=int, default=1000)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="healthhub-bench-ingest-"))
    try:
        fleet = init_fleet(
            root / "fleet", name="Bench", broker_host="localhost", broker_port=free_port()
        )
        devices = [f"bench-{i:03d}" for i in range(args.devices)]
        for device in devices:
            enrol_device(fleet, device=device, site=SITE, simulate=False)
        write_broker_config(fleet, bind="127.0.0.1")
        backlog = {device: envelopes(fleet, device, args.per_device) for device in devices}
        broker = BrokerProcess(fleet, log_path=root / "mosquitto.log")
        broker.start()
        acks = AckWatcher(fleet, broker.port)
        figures: dict[str, Any] = {
            "devices": args.devices,
            "envelopes_per_phase": args.devices * args.per_device,
            "machine": machine(),
            "raw_subscriber": [drain_raw(fleet, broker.port, backlog, n) for n in (1, 2)],
        }
        figures["sqlite"] = [
            drain_bridges(
                fleet,
                broker,
                backlog,
                acks,
                store=str(root / f"store-{n}.sqlite"),
                n=n,
                label="sqlite",
                logs=root,
            )
            for n in (1, 2)
        ]
        server, why_not = (None, "--no-postgres") if args.no_postgres else postgres_server()
        if server is None:
            figures["postgresql"] = {"skipped": why_not}
        else:
            with server:
                figures["postgresql"] = [
                    drain_bridges(
                        fleet,
                        broker,
                        backlog,
                        acks,
                        store=server.create_database(f"bench{n}"),
                        n=n,
                        label="postgresql",
                        logs=root,
                    )
                    for n in (1, 2)
                ]
        raw = figures["raw_subscriber"][0]["per_s"]
        figures["vs_raw_1_subscriber"] = {
            f"{db}_{run['bridges']}": round(run["per_s"] / raw, 3)
            for db in ("sqlite", "postgresql")
            if isinstance(figures[db], list)
            for run in figures[db]
        }
        acks.close()
        broker.stop()
        print(json.dumps(figures, indent=2))
        if server is None and not args.no_postgres:
            # figures without PostgreSQL are not the bench's figures: say so, and fail
            print(f"PostgreSQL not measured: {why_not} (or pass --no-postgres)", file=sys.stderr)
            return 1
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
