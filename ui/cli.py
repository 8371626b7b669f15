"""``healthhub-kiosk``: the patient UI.

    healthhub-kiosk --config /etc/healthhub/device.yaml [--windowed]

It reads only the local API socket's path from device.yaml; everything else
(languages, tiles, timeouts, opening hours) comes from the agent, so a pushed
configuration reaches the screen without touching the UI. Exit codes: 0
closed, 1 could not start (fonts, display), 2 bad command line or device.yaml.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from healthhub.agent.config import ConfigError, load_config

DEFAULT_CONFIG = Path("/etc/healthhub/device.yaml")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthhub-kiosk",
        description="Health Hub patient UI (Kivy). Talks only to its agent's local API.",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="device.yaml")
    parser.add_argument(
        "--windowed", action="store_true", help="a 1280x800 window instead of full screen"
    )
    parser.add_argument(
        "--size", default="1280x800", help="window size with --windowed (default 1280x800)"
    )
    parser.add_argument(
        "--speech-dir",
        type=Path,
        help="write read-aloud speech as WAV files here instead of playing it (headless units)",
    )
    return parser


def prepare_kivy(*, windowed: bool, size: str, touch_keyboard: bool | None = None) -> None:
    """Settings Kivy reads at import: set before anything imports kivy.

    ``touch_keyboard``: a keyboard on the screen, docked at the bottom, for the text fields of
    forms (a kiosk has no other); by default on in full screen and off in a window (a
    desktop, which has a keyboard of its own)."""
    # Shaping for Urdu, Gurmukhi and Bengali: Pillow with libraqm (shared/notes).
    os.environ.setdefault("KIVY_TEXT", "pil")
    os.environ["KIVY_NO_ARGS"] = "1"
    # No patient data on disk: Kivy's file log and its config file stay out of the way.
    os.environ["KIVY_NO_FILELOG"] = "1"
    os.environ.setdefault("KIVY_NO_CONFIG", "1")
    if "KIVY_HOME" not in os.environ:  # a private, throw-away home, removed at exit
        home = tempfile.mkdtemp(prefix="healthhub-kivy-")
        os.environ["KIVY_HOME"] = home
        atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    from kivy.config import Config

    width, _, height = size.partition("x")
    Config.set("graphics", "fullscreen", "0" if windowed else "auto")
    Config.set("graphics", "width", width)
    Config.set("graphics", "height", height)
    Config.set("graphics", "resizable", "1" if windowed else "0")
    # One finger is one touch: no red multitouch dots from a right click.
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "0" if not windowed else "1")
    on_screen = not windowed if touch_keyboard is None else touch_keyboard
    Config.set("kivy", "keyboard_mode", "dock" if on_screen else "system")
    Config.set("kivy", "keyboard_layout", "qwerty")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"healthhub-kiosk: {exc}", file=sys.stderr)
        return 2
    import logging

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    prepare_kivy(windowed=args.windowed, size=args.size)
    from healthhub.ui import fonts

    try:
        fonts.check_fonts()
    except fonts.FontsMissing as exc:
        print(f"healthhub-kiosk: {exc}", file=sys.stderr)
        return 1
    from healthhub.ui.app import run

    trace = os.environ.get("HEALTHHUB_UI_TRACE")
    assert config.local_api.socket is not None
    run(
        config.local_api.socket,
        speech_dir=args.speech_dir,
        trace_path=Path(trace) if trace else None,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
