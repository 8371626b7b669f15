"""Whether a process named by its pid (read from a status or health file) is alive."""

from __future__ import annotations

import os


def process_alive(pid: object) -> bool:
    """True if ``pid`` is a positive int naming a live process, whoever owns it."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's (no CAP_KILL needed to know)
        return True
    return True
