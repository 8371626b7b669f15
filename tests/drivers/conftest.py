"""Fixtures for the driver tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def no_global_pin_factory() -> Iterator[None]:
    """GPIO tests pass a factory per device; none may leave gpiozero's global one set."""
    from gpiozero import Device

    assert Device.pin_factory is None
    yield
    assert Device.pin_factory is None
