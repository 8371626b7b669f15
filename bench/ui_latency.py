"""How fast the patient UI is, measured under Xvfb against a real agent; prints JSON.

    .venv/bin/python bench/ui_latency.py [--runs 5] [--readings 20]

- ``cold_start_s``: ``healthhub-kiosk`` spawned → its attract screen drawn (target ≤ 3 s),
  beside the baseline of a bare Kivy app (one Label) spawned → first frame, on the same
  display in the same run: the difference is what Health Hub adds.
- ``reading_to_screen_ms``: a reading handed to the agent by the simulated monitor →
  the result screen drawn (target ≤ 250 ms): the outbox commit (fsync), the local API
  event, banding and layout. Beside it the baseline of the same reading reaching a
  bare asyncio client of the local API (no Kivy): the difference is the UI's share.

The clock is CLOCK_MONOTONIC, shared by every process on the machine; the app writes
its marks to ``HEALTHHUB_UI_TRACE`` (times only). Xvfb renders with llvmpipe (CPU), so
the figures are an upper bound for a machine with a GPU, and not a Pi's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from healthhub.agent.local_client import AgentClient
from healthhub.protocol import local_api as api

BIN = Path(sys.executable).parent
BARE_KIVY = """
import time, sys
from kivy.app import App
from kivy.clock import Clock
from kivy.uix.label import Label
class Bare(App):
    def build(self):
        return Label(text="Touch here to start", font_size=40)
    def on_start(self):
        Clock.schedule_once(lambda dt: (print(time.monotonic(), flush=True), self.stop()), 0)
Bare().run()
"""


def _start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    for number in range(150, 250):
        if not Path(f"/tmp/.X11-unix/X{number}").exists():
            break
    process = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if time.monotonic() > deadline:
            raise SystemExit("Xvfb did not start: run `make setup`")
        time.sleep(0.05)
    return process, f":{number}"


def _device(root: Path) -> Path:
    from healthhub.provisioning.broker_config import write_broker_config
    from healthhub.provisioning.enrolment import enrol_device
    from healthhub.provisioning.fleet import init_fleet

    layout = init_fleet(root / "fleet", name="Bench", broker_host="localhost", broker_port=1)
    write_broker_config(layout, bind="127.0.0.1")
    config = enrol_device(layout, device="kiosk-1", site="bench", role="kiosk", simulate=False)
    data = yaml.safe_load(config.read_text())
    data["peripherals"] = [
        {"name": "therm", "driver": "thermometer", "backend": "simulator", "trigger": "request"}
    ]
    data["broker"]["reconnect_initial_s"] = 60  # no broker: the bench is about the device
    data["local_api"] = {"socket": str(root / "agent.sock")}
    config.write_text(yaml.safe_dump(data))
    return config


def _env(display: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DISPLAY": display,
        "KIVY_TEXT": "pil",
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_FILELOG": "1",
        "KIVY_NO_CONFIG": "1",
        **extra,
    }


def _wait_trace(trace: Path, event: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if trace.exists():
            for line in trace.read_text().splitlines():
                mark = json.loads(line)
                if mark["event"] == event:
                    return dict(mark)
        time.sleep(0.01)
    raise SystemExit(f"no {event} in {trace} after {timeout} s")


def cold_starts(config: Path, display: str, runs: int, work: Path) -> dict[str, Any]:
    kiosk, bare = [], []
    home = tempfile.mkdtemp(prefix="kivy-home-", dir=work)
    bare_app = work / "bare_kivy.py"  # Kivy looks for its App's source file
    bare_app.write_text(BARE_KIVY)
    for run in range(runs):
        trace = work / f"cold-{run}.jsonl"
        env = _env(display, HEALTHHUB_UI_TRACE=str(trace), KIVY_HOME=home)
        started = time.monotonic()
        process = subprocess.Popen(
            [str(BIN / "healthhub-kiosk"), "--config", str(config), "--windowed"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shown = _wait_trace(trace, "attract_shown")["monotonic"]
        kiosk.append(shown - started)
        process.terminate()
        process.wait(20)
        started = time.monotonic()
        out = subprocess.run(
            [sys.executable, str(bare_app)],
            env=_env(display, KIVY_HOME=home),
            capture_output=True,
            text=True,
            check=True,
        )
        bare.append(float(out.stdout.strip().splitlines()[-1]) - started)
    return {
        "runs": runs,
        "kiosk_median_s": round(statistics.median(kiosk), 3),
        "kiosk_max_s": round(max(kiosk), 3),
        "bare_kivy_median_s": round(statistics.median(bare), 3),
        "target_s": 3.0,
        "met": statistics.median(kiosk) <= 3.0,
    }


async def _api_baseline(socket_path: Path, readings: int) -> list[float]:
    """A reading from the simulator to a bare local API client (no UI)."""
    latencies: list[float] = []
    got: asyncio.Queue[api.Event] = asyncio.Queue()
    hello = asyncio.Event()
    client = AgentClient(
        socket_path,
        on_event=got.put_nowait,
        on_hello=lambda _h: hello.set(),
        on_link=lambda _s: None,
    )
    runner = asyncio.create_task(client.run())
    await asyncio.wait_for(hello.wait(), 30)
    session = (await client.call("session.start"))["session"]
    for _ in range(readings):
        await client.call("measure.start", session=session, kinds=["body_temperature"])
        while True:
            event = await asyncio.wait_for(got.get(), 30)
            if event.event == "reading":
                latencies.append(time.monotonic() - event.data["received_monotonic"])
                break
    await client.call("session.end", session=session, reason="finished")
    runner.cancel()
    return latencies


def reading_to_screen(config: Path, display: str, readings: int, work: Path) -> dict[str, Any]:
    socket_path = Path(yaml.safe_load(config.read_text())["local_api"]["socket"])
    baseline = asyncio.run(_api_baseline(socket_path, readings))
    trace = work / "readings.jsonl"
    env = _env(display, HEALTHHUB_UI_TRACE=str(trace), KIVY_HOME=tempfile.mkdtemp(dir=work))
    subprocess.run(
        [sys.executable, __file__, "--child-ui", str(config), "--readings", str(readings)],
        env=env,
        check=True,
        timeout=600,
    )
    marks = [json.loads(line) for line in trace.read_text().splitlines()]
    shown = [m["monotonic"] - m["received"] for m in marks if m["event"] == "result_shown"]
    if len(shown) != readings:
        raise SystemExit(f"expected {readings} results on screen, saw {len(shown)}")
    ms = sorted(1000 * s for s in shown)
    return {
        "readings": readings,
        "ui_median_ms": round(statistics.median(ms), 1),
        "ui_p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1),
        "ui_max_ms": round(ms[-1], 1),
        "local_api_median_ms": round(1000 * statistics.median(baseline), 1),
        "target_ms": 250,
        "met": statistics.median(ms) <= 250,
    }


def child_ui(config_path: Path, readings: int) -> None:
    """In the app's own process: take ``readings`` temperatures through the journey."""
    from healthhub.agent.config import load_config
    from healthhub.ui.cli import prepare_kivy

    config = load_config(config_path)
    prepare_kivy(windowed=True, size="1280x800")
    from healthhub.ui.app import KioskApp

    assert config.local_api.socket is not None
    app = KioskApp(config.local_api.socket, trace_path=Path(os.environ["HEALTHHUB_UI_TRACE"]))

    async def journey() -> None:
        while app.journey is None:
            await asyncio.sleep(0.05)
        j = app.journey
        await j.start()
        j.skip_identify()
        for _ in range(readings):
            j.choose_tile("temperature")
            await asyncio.sleep(0.3)  # the step screen is drawn: the patient reads it
            await j.start_measuring()
            while j.screen.value != "result":
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.3)  # the trace mark lands on the next frame
            await j.leave_measurement()
        await j.end("finished")
        app.stop()

    async def both() -> None:
        task = asyncio.ensure_future(journey())
        await app.async_run(async_lib="asyncio")
        await task

    asyncio.run(both())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--readings", type=int, default=20)
    parser.add_argument("--child-ui", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_ui:
        child_ui(args.child_ui, args.readings)
        return 0
    if shutil.which("Xvfb") is None:
        raise SystemExit("Xvfb not found: run `make setup`")
    work = Path(tempfile.mkdtemp(prefix="ui-bench-"))
    xvfb, display = _start_xvfb()
    agent = None
    try:
        config = _device(work)
        agent = subprocess.Popen(
            [str(BIN / "healthhub-agent"), "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not (work / "agent.sock").exists():
            if time.monotonic() > deadline:
                raise SystemExit("the agent did not open its local API")
            time.sleep(0.05)
        result = {
            "bench": "ui_latency",
            "display": "Xvfb 1280x800, Mesa llvmpipe",
            "cpus": os.cpu_count(),
            "cold_start": cold_starts(config, display, args.runs, work),
            "reading_to_screen": reading_to_screen(config, display, args.readings, work),
        }
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(20)
        xvfb.terminate()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
