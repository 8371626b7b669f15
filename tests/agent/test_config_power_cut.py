"""A device killed (``kill -9``) at any step of applying a layer comes back with a valid
configuration: the old one or the new one, never a broken one.

A child process applies a layer while every file-system step it takes (``fchmod``,
``fsync``, ``replace``) is counted; at step N it sends itself SIGKILL. The test runs N = 1,
2, ... until the child gets through, and after every kill loads the layers as a restarted
agent would.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from tests.agent.test_desired_config import DEVICE, LOCAL, VERIFY, store
from tests.agent.test_desired_config import layer as signed_layer


def layer(version: int, interval_s: float) -> bytes:
    return signed_layer(DEVICE, version, {"telemetry": {"interval_s": interval_s}})


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import yaml
    from healthhub.agent.desired_config import LayerStore

    state, kill_at = Path(sys.argv[1]), int(sys.argv[2])
    new_layer, verify = sys.argv[3], sys.argv[4]
    steps = {"n": 0}
    for name in ("fchmod", "fsync", "replace"):
        real = getattr(os, name)
        def counted(*args, _real=real, **kwargs):
            steps["n"] += 1
            if steps["n"] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return _real(*args, **kwargs)
        setattr(os, name, counted)
    local = yaml.safe_load((state.parent / "device.yaml").read_text())
    store = LayerStore(state.parent / "device.yaml", local, state, Path(verify).read_bytes(),
                       device="kiosk-1", site="practice-a")
    config, report = store.offer("device", Path(new_layer).read_bytes())
    assert config is not None and report is not None, report
    store.commit()
    """
)


def test_kill_9_at_every_step_of_an_apply_leaves_the_old_or_the_new_config(
    tmp_path: Path,
) -> None:
    (tmp_path / "device.yaml").write_text(yaml.safe_dump(LOCAL))
    (tmp_path / "verify.key").write_bytes(VERIFY)
    new = tmp_path / "new.layer"
    new.write_bytes(layer(2, 13))
    state = tmp_path / "state"
    seen: set[float] = set()
    for kill_at in range(1, 40):
        state.mkdir(exist_ok=True)
        for leftover in state.iterdir():
            leftover.unlink()
        old = store(tmp_path)
        old.offer("device", layer(1, 12))
        old.commit()
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(state),
                str(kill_at),
                str(new),
                str(tmp_path / "verify.key"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        after = store(tmp_path)  # what the agent finds at its next start
        interval = after.effective().telemetry.interval_s
        assert interval in (12, 13), (kill_at, interval)
        seen.add(interval)
        if child.returncode == 0:
            assert interval == 13
            assert after.trial is None
            break
        assert child.returncode == -signal.SIGKILL, child.stderr
        if after.trial is not None:  # killed during the trial: the agent judges it again
            assert interval == 13
    else:
        raise AssertionError("the child never got through the apply")
    assert kill_at > 4  # the kills did hit the apply's steps, both before and after the write
    assert seen == {12, 13}
