"""The ``screenshot`` command: the agent asks the UI for a picture of its screen.

The agent has no display of its own, so it sends the UI a ``screenshot`` event and waits
(:data:`TIMEOUT_S`) for its ``screenshot.done``. The UI refuses on every screen but the
attract and staff screens, so a patient's details never leave the unit this way; the
agent refuses before asking while a session is open. The PNG is bounded by
:data:`MAX_BYTES` so that it fits one local-API line and one command answer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from healthhub.agent.command_runner import CommandFailed
from healthhub.protocol import local_api as api
from healthhub.protocol.ids import uuid7

MAX_BYTES = 40 * 1024
TIMEOUT_S = 15.0
_PNG = b"\x89PNG\r\n\x1a\n"


class ScreenshotRequests:
    def __init__(self, publish: Callable[[api.Event], None]) -> None:
        self._publish = publish
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def ask(self, connected_uis: int) -> dict[str, Any]:
        """The UI's screenshot as a command ``detail``; :class:`CommandFailed` if none."""
        if not connected_uis:
            raise CommandFailed("no UI is connected")
        request = str(uuid7())
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request] = future
        try:
            self._publish(api.Event("screenshot", {"request": request, "max_bytes": MAX_BYTES}))
            answer = await asyncio.wait_for(future, TIMEOUT_S)
        except TimeoutError:
            raise CommandFailed(f"the UI did not answer in {TIMEOUT_S:g} s") from None
        finally:
            self._waiting.pop(request, None)
        if answer.get("refused"):
            raise CommandFailed(f"refused by the UI: {str(answer['refused'])[:200]}")
        return checked_png(answer.get("png_base64"))

    def answered(self, args: Mapping[str, Any]) -> bool:
        """The UI's ``screenshot.done``; False if nothing was asked under that request."""
        future = self._waiting.get(str(args.get("request")))
        if future is None or future.done():
            return False
        future.set_result(dict(args))
        return True


def checked_png(value: object) -> dict[str, Any]:
    """The screenshot if it is a PNG within the bound; else :class:`CommandFailed`."""
    try:
        data = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise CommandFailed("the UI's screenshot is not base64") from None
    if not data.startswith(_PNG) or len(data) < 24:
        raise CommandFailed("the UI's screenshot is not a PNG")
    if len(data) > MAX_BYTES:
        raise CommandFailed(f"the UI's screenshot is {len(data)} bytes, over {MAX_BYTES}")
    return {
        "png_base64": base64.b64encode(data).decode("ascii"),
        "bytes": len(data),
        "width": int.from_bytes(data[16:20], "big"),  # the IHDR chunk
        "height": int.from_bytes(data[20:24], "big"),
    }
