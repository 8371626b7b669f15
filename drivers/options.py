"""Peripheral options from device.yaml, validated by a pydantic model per driver backend.

A backend's constructor calls :func:`parse_options`; it must not touch hardware, so the
agent can validate a whole device.yaml (``load_config``) on any machine. Errors name the
peripheral and the option, as an installer reads them.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from healthhub.drivers.base import PeripheralSpec
from healthhub.drivers.errors import DriverConfigError


class Options(BaseModel):
    """Base of every backend's options: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


OptionsT = TypeVar("OptionsT", bound=Options)


def parse_options(spec: PeripheralSpec, model: type[OptionsT]) -> OptionsT:
    """``spec.options`` as ``model``, or :class:`DriverConfigError` naming the option."""
    try:
        return model.model_validate(dict(spec.options))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "options"
            message = "unknown option" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(f"{where}: {message}")
        raise DriverConfigError(
            f"peripheral {spec.name!r} ({spec.driver}, backend {spec.backend}): "
            + "; ".join(problems)
        ) from None
