"""Outbox drain benchmark: prints JSON figures, each beside a baseline from the same run.

(a) raw paho QoS 1 publish rate to the same broker, same TLS, same inflight window;
(b) the agent's drain of a 50,000-reading backlog through the whole path
    (agent -> mosquitto -> bridge -> practice store -> ack -> outbox deletion);
(c) durable accept rate: readings committed per second (one commit per reading,
    and group commit with concurrent producers, as the agent runs);
(d) the agent's resident memory (peak RSS) after the drain.

Targets (issue 3): drain >= 0.6 x raw paho; 50,000 drained in <= 10 s;
accept >= 2,000/s; RSS <= 45 MB. Run with `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from healthhub.agent.async_outbox import AsyncOutbox
from healthhub.agent.outbox import NewMessage, Outbox
from healthhub.agent.service import MAX_INFLIGHT
from healthhub.protocol import topics
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.keys import read_key
from healthhub.protocol.sealed import Sealer
from healthhub.protocol.tls import client_context
from healthhub.provisioning.broker_config import write_broker_config
from healthhub.provisioning.broker_process import BrokerProcess
from healthhub.provisioning.enrolment import enrol_device
from healthhub.provisioning.fleet import init_fleet

BIN = Path(sys.executable).parent
DEVICE = "bench-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reading(n: int) -> NewMessage:
    return NewMessage(
        stream="readings",
        kind="blood_pressure",
        body={
            "components": [
                {"code": "systolic", "value": 120 + n % 40, "unit": "mm[Hg]"},
                {"code": "diastolic", "value": 70 + n % 20, "unit": "mm[Hg]"},
                {"code": "pulse", "value": 60 + n % 30, "unit": "/min"},
            ],
            "source": {"peripheral": "bp-monitor", "driver": "blood_pressure", "backend": "bench"},
        },
        taken_at=datetime.now(UTC),
    )


def raw_paho_rate(bundle: Path, port: int, payload: bytes, count: int) -> float:
    """QoS 1 publishes per second until every PUBACK is back (paho's own network thread)."""
    done = threading.Event()
    acked = 0

    def on_publish(client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        nonlocal acked
        acked += 1
        if acked == count:
            done.set()

    connected = threading.Event()
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"{DEVICE}-raw",
        protocol=mqtt.MQTTv5,
    )
    context: ssl.SSLContext = client_context(
        bundle / "ca.crt", bundle / "device.crt", bundle / "device.key"
    )
    client.tls_set_context(context)
    client.max_inflight_messages_set(MAX_INFLIGHT)  # the agent's own window
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.on_connect = lambda *a: connected.set()
    client.connect("localhost", port)
    client.loop_start()
    connected.wait(10)
    topic = topics.up(DEVICE, "usage")  # no subscriber: the broker's PUBACK rate alone
    started = time.perf_counter()
    for _ in range(count):
        client.publish(topic, payload, qos=1)
    done.wait(120)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return count / elapsed


def fill_outbox(state_dir: Path, sealer: Sealer, count: int) -> bytes:
    outbox = Outbox(
        state_dir / "outbox.sqlite",
        device=DEVICE,
        site="bench-site",
        sealer=sealer,
        max_messages=count + 10,
    )
    for start in range(0, count, 1000):
        outbox.accept([reading(n) for n in range(start, min(count, start + 1000))])
    sample = outbox.read_after(0, 1)[0].payload
    outbox.close()
    return sample


def accept_rates(state_dir: Path, sealer: Sealer) -> dict[str, float]:
    single = Outbox(state_dir / "single.sqlite", device=DEVICE, site="bench-site", sealer=sealer)
    n = 2000
    started = time.perf_counter()
    for i in range(n):
        single.accept([reading(i)])
    per_commit = n / (time.perf_counter() - started)
    single.close()

    async def grouped() -> float:
        outbox = Outbox(state_dir / "group.sqlite", device=DEVICE, site="bench-site", sealer=sealer)
        store = AsyncOutbox(outbox)
        store.start()
        producers, each = 8, 1500

        async def produce(p: int) -> None:
            for i in range(each):
                await store.take(reading(p * each + i))

        started = time.perf_counter()
        await asyncio.gather(*(produce(p) for p in range(producers)))
        rate = producers * each / (time.perf_counter() - started)
        await store.close()
        return rate

    return {
        "one_commit_per_reading_per_s": per_commit,
        "group_commit_8_producers_per_s": asyncio.run(grouped()),
    }


def confirmed(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)) as db:
            row = db.execute(
                "SELECT confirmed_seq FROM progress WHERE device = ?", (DEVICE,)
            ).fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0]) if row else 0


def outbox_depth(database: Path) -> int:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as db:
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=50_000)
    parser.add_argument("--raw-count", type=int, default=50_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="healthhub-bench-"))
    try:
        fleet: FleetLayout = init_fleet(
            root / "fleet", name="Bench", broker_host="localhost", broker_port=free_port()
        )
        config = enrol_device(fleet, device=DEVICE, site="bench-site")
        data = yaml.safe_load(config.read_text())
        data["telemetry"] = {"interval_s": 3600}
        data["outbox"]["max_messages"] = args.backlog + 10
        config.write_text(yaml.safe_dump(data))
        write_broker_config(fleet, bind="127.0.0.1")
        broker = BrokerProcess(fleet, log_path=root / "mosquitto.log")
        broker.start()
        sealer = Sealer(read_key(fleet.ingest_pub))
        state = config.parent / "state"
        state.mkdir()
        sample = fill_outbox(state, sealer, args.backlog)
        accept = accept_rates(root, sealer)
        raw = raw_paho_rate(config.parent, broker.port, sample, args.raw_count)

        store = root / "store.sqlite"
        logs = {name: open(root / f"{name}.log", "wb") for name in ("bridge", "agent")}  # noqa: SIM115
        profile = os.environ.get("BENCH_PROFILE_DIR")

        def command(script: str, module: str) -> list[str]:
            if profile:  # cProfile each side of the drain
                out = f"{profile}/{script}.prof"
                return [sys.executable, "-m", "cProfile", "-o", out, "-m", module]
            return [str(BIN / script)]

        bridge = subprocess.Popen(
            [
                *command("healthhub-fleet", "healthhub.fleet"),
                "bridge",
                "--fleet",
                str(fleet.root),
                "--store",
                str(store),
            ],
            stdout=logs["bridge"],
            stderr=subprocess.STDOUT,
        )
        time.sleep(1.5)  # the bridge connects and subscribes before the agent starts sending
        broker_cpu_before = cpu_seconds(broker.pid or 0)
        started = time.perf_counter()
        agent = subprocess.Popen(
            [*command("healthhub-agent", "healthhub.agent"), "--config", str(config)],
            stdout=logs["agent"],
            stderr=subprocess.STDOUT,
        )
        first_at = None
        deadline = time.monotonic() + 300
        while confirmed(store) < args.backlog and time.monotonic() < deadline:
            if first_at is None and confirmed(store) > 0:
                first_at = time.perf_counter()
            time.sleep(0.05)
        finished = time.perf_counter()
        drained = confirmed(store)
        # The agent deletes what the ack covers; wait for its outbox to empty too.
        while outbox_depth(state / "outbox.sqlite") > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        emptied = time.perf_counter()
        rss = peak_rss(agent.pid)
        cpu = {
            "agent": round(cpu_seconds(agent.pid), 2),
            "bridge": round(cpu_seconds(bridge.pid), 2),
            "mosquitto": round(cpu_seconds(broker.pid or 0) - broker_cpu_before, 2),
        }
        agent.terminate()
        agent.wait(20)
        bridge.terminate()
        bridge.wait(20)
        broker.stop()
        drain_s = finished - started
        drain_rate = drained / drain_s
        figures = {
            "backlog": args.backlog,
            "raw_paho_qos1_publish_per_s": round(raw),
            "agent_drain_per_s": round(drain_rate),
            "agent_drain_vs_raw_paho": round(drain_rate / raw, 3),
            "drain_seconds_to_confirmed_at_bridge": round(drain_s, 2),
            "drain_seconds_until_outbox_empty": round(emptied - started, 2),
            "drain_seconds_from_first_confirmation": round(finished - (first_at or started), 2),
            "confirmed": drained,
            "accept": {k: round(v) for k, v in accept.items()},
            "agent_peak_rss_mb": round(rss / 2**20, 1),
            "cpu_seconds_during_drain": cpu,
            "cores": os.cpu_count(),
            "targets": {
                "drain_vs_raw_paho_at_least": 0.6,
                "drain_seconds_at_most": 10,
                "accept_per_s_at_least": 2000,
                "rss_mb_at_most": 45,
            },
        }
        figures["met"] = {
            "drain_vs_raw_paho": figures["agent_drain_vs_raw_paho"] >= 0.6,
            "drain_seconds": drain_s <= 10,
            "accept_group_commit": accept["group_commit_8_producers_per_s"] >= 2000,
            "accept_one_commit_per_reading": accept["one_commit_per_reading_per_s"] >= 2000,
            "rss": rss / 2**20 <= 45,
        }
        print(json.dumps(figures, indent=2))
        return 0 if drained == args.backlog else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
