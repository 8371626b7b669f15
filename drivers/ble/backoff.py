"""Reconnect backoff for a Bluetooth device: exponential, jittered, capped, reset by success.

Why not tenacity here (STYLE.md's retry policies): the reconnect loop never ends and has no
single operation to retry; what it needs is a delay that grows while sessions fail and
drops back to the start after a good one. A health device advertises for only a short
while after a measurement, so the cap is seconds, not minutes.
"""

from __future__ import annotations

import random


class ReconnectBackoff:
    """Delays ``initial_s * 2**n`` up to ``max_s``, each drawn in [half, full] ("equal jitter")."""

    def __init__(
        self, initial_s: float = 0.5, max_s: float = 10.0, rng: random.Random | None = None
    ) -> None:
        if not 0 < initial_s <= max_s:
            raise ValueError("backoff needs 0 < initial_s <= max_s")
        self.initial_s = initial_s
        self.max_s = max_s
        self.failures = 0
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not secrets

    def next(self) -> float:
        """The delay before the next attempt; counts one more consecutive failure."""
        ceiling = min(self.max_s, self.initial_s * 2.0 ** min(self.failures, 32))
        self.failures += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        """A good session: the next failure starts from ``initial_s`` again."""
        self.failures = 0
