"""The script a simulated PIR or help button plays: wait, hold the input active, release."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pydantic import Field

from healthhub.drivers.options import Options

#: Steps a script may hold (it is played once, or in a loop with ``repeat``).
SCRIPT_LIMIT = 1000


class PulseStep(Options):
    """After ``after_s`` seconds the input goes active for ``for_s`` seconds."""

    after_s: float = Field(default=0.0, ge=0, le=3600)
    for_s: float = Field(default=0.5, gt=0, le=600)


class ScriptOptions(Options):
    """What a simulated input's options add: the ``script`` it plays, once or with ``repeat``.

    List it first among the bases, so that these options come after the family's own."""

    script: list[PulseStep] = Field(default_factory=list, max_length=SCRIPT_LIMIT)
    repeat: bool = False


async def play(steps: list[PulseStep], drive: Callable[[bool], None], *, repeat: bool) -> None:
    """Play ``steps`` through ``drive(active)``; returns when done (never, with ``repeat``)."""
    while True:
        for step in steps:
            await asyncio.sleep(step.after_s)
            drive(True)
            try:
                await asyncio.sleep(step.for_s)
            finally:
                drive(False)
        if not repeat or not steps:
            return
