"""A stand-in for systemd's ``Restart=`` in the software update tests: runs the agent from the
release ``/opt/healthhub/venv`` points to, and starts it again whenever it exits.

    python agent_supervisor.py --link ROOT/opt/healthhub/venv --pidfile FILE -- ARGS...

Each start resolves the link, as systemd does through ``ExecStart=/opt/healthhub/venv/...``
whose script names its own release's interpreter, and runs ``RELEASE/bin/python ARGS`` in
``/`` (systemd's working directory: a source tree there would shadow the release). The
agent's pid is written to FILE: the updater's restart command sends it SIGTERM, and this
starts the release the link points to now. SIGTERM to this supervisor stops the agent and
ends; the agent is also killed if the supervisor dies (PR_SET_PDEATHSIG), so a test that
fails never leaves one behind.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
RESTART_S = 0.5  # systemd's RestartSec, shortened


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--link", type=Path, required=True)
    parser.add_argument("--pidfile", type=Path, required=True)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        release = options.link.parent / os.readlink(options.link)
        python = release / "bin" / "python"
        print(f"supervisor: starting {python} {' '.join(args)}", flush=True)
        child = subprocess.Popen(
            [str(python), *args],
            cwd="/",
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads here; sets PDEATHSIG
        )
        written = options.pidfile.with_name(f".{options.pidfile.name}.tmp")
        written.write_text(f"{child.pid}\n")
        os.replace(written, options.pidfile)  # the restart command never reads half a pid
        code = child.wait()
        print(f"supervisor: agent {child.pid} exited {code}", flush=True)
        if not stopping:
            time.sleep(RESTART_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
