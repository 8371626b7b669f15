"""One named retry policy per kind of operation (STYLE.md: tenacity, jitter, a cap, a log line).

Each policy retries for as long as the agent runs: a device must come back by
itself. What bounds it is the rate: exponential backoff with jitter up to a
cap, so a fleet whose broker comes back does not stampede it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from healthhub.agent.mqtt_link import LinkError
from healthhub.drivers.errors import TransientDriverError

log = logging.getLogger(__name__)


def _log_attempt(what: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s failed (attempt %d): %s; retrying in %.1f s",
            what,
            state.attempt_number,
            error,
            delay,
        )

    return before_sleep


def broker_reconnect(initial_s: float, max_s: float) -> AsyncRetrying:
    """Reconnect to the broker: 1 s, 2 s, 4 s ... up to ``max_s``, each with up to 1 s jitter."""
    return AsyncRetrying(
        wait=wait_exponential_jitter(multiplier=initial_s, max=max_s, jitter=min(1.0, initial_s)),
        retry=retry_if_exception_type(LinkError),
        before_sleep=_log_attempt("connecting to the broker"),
        reraise=True,
    )


def peripheral_restart(name: str, initial_s: float = 1.0, max_s: float = 60.0) -> AsyncRetrying:
    """Restart a peripheral that failed with a transient error."""
    return AsyncRetrying(
        wait=wait_exponential_jitter(multiplier=initial_s, max=max_s, jitter=initial_s),
        retry=retry_if_exception_type(TransientDriverError),
        before_sleep=_log_attempt(f"peripheral {name}"),
        reraise=True,
    )
