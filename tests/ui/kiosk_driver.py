"""Drive the real kiosk app in a real window (Xvfb) with touches; run as a subprocess.

    python tests/ui/kiosk_driver.py --config device.yaml --scenario NAME --out DIR [--language ur]

The app is the production :class:`~healthhub.ui.app.KioskApp`, connected to a
real agent over the local API. Touches go through Kivy's input pipeline
(``EventLoop.post_dispatch_input``, as Kivy's own tests do) at the centre of
the widget a patient would touch, found by its ``tag``. Each step can save a
screenshot into ``--out``. The outcome is ``--out/result.json``: ``ok``, the
steps done, and facts the pytest side checks; a failed check exits 1 with the
reason. When a scenario needs the agent restarted it writes
``--out/control.json`` and waits (the pytest side does the restart).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from healthhub.agent.config import load_config
from healthhub.ui.cli import prepare_kivy

Scenario = Callable[["Driver"], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


class DriverFailure(AssertionError):
    pass


class Driver:
    def __init__(self, app: Any, out: Path, language: str, facts: dict[str, Any]) -> None:
        self.app = app
        self.out = out
        self.language = language
        self.facts = facts
        self.steps: list[str] = []
        self.shots = 0

    # -- finding widgets ---------------------------------------------------------------------

    def _walk(self, widget: Any, *, visible_only: bool) -> Iterator[Any]:
        from kivy.uix.screenmanager import ScreenManager

        if visible_only and (widget.opacity == 0 or widget.disabled):
            return
        yield widget
        if visible_only and isinstance(widget, ScreenManager):
            if widget.current_screen is not None:
                yield from self._walk(widget.current_screen, visible_only=True)
            return
        children = list(widget.children)
        if isinstance(widget, ScreenManager):
            children = list(widget.screens)
        for child in children:
            yield from self._walk(child, visible_only=visible_only)

    def find(self, tag: str) -> Any | None:
        for widget in self._walk(self.app.root, visible_only=True):
            if getattr(widget, "tag", None) == tag:
                return widget
        return None

    def visible_texts(self) -> list[str]:
        from kivy.uix.label import Label

        return [
            w.text
            for w in self._walk(self.app.root, visible_only=True)
            if isinstance(w, Label) and w.text
        ]

    def all_texts(self) -> list[str]:
        """Every text held by any widget, shown or not (the wipe check)."""
        from kivy.uix.label import Label

        return [
            w.text for w in self._walk(self.app.root, visible_only=False) if isinstance(w, Label)
        ]

    # -- acting ----------------------------------------------------------------------------

    async def frames(self, n: int = 3) -> None:
        for _ in range(n):
            await asyncio.sleep(1 / 30)

    async def wait(self, what: str, check: Callable[[], Any], timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                await self.frames(2)
                return value
            if time.monotonic() > deadline:
                raise DriverFailure(
                    f"timed out waiting for {what}; on screen: {self.visible_texts()}"
                )
            await asyncio.sleep(0.05)

    async def screen(self, name: str, timeout: float = 20) -> None:
        await self.wait(
            f"screen {name}", lambda: self.app.root.ids.screens.current == name, timeout
        )

    async def tap(self, tag: str, *, hold_s: float = 0.0) -> None:
        from kivy.tests.common import UnitTestTouch

        widget = await self.wait(f"a visible {tag!r} to touch", lambda: self.find(tag))
        await self._scroll_into_view(widget)
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        if hold_s:
            await asyncio.sleep(hold_s)
        touch.touch_up()
        self.steps.append(f"tap {tag}")
        await self.frames()

    async def _scroll_into_view(self, widget: Any) -> None:
        """Scroll the list holding ``widget`` until it shows, as a patient would swipe."""
        from kivy.uix.scrollview import ScrollView

        parent = widget.parent
        while parent is not None and not isinstance(parent, ScrollView):
            if parent.parent is parent:  # the Window is its own parent
                return
            parent = parent.parent
        if parent is None:
            return
        x, y = widget.to_window(*widget.center)
        left, bottom = parent.to_window(parent.x, parent.y)
        if left <= x <= left + parent.width and bottom <= y <= bottom + parent.height:
            return
        parent.scroll_to(widget, padding=10, animate=False)
        self.steps.append(f"scroll to {getattr(widget, 'tag', '')}")
        await self.frames(3)

    async def tap_at(self, widget_id: str, *, hold_s: float) -> None:
        from kivy.tests.common import UnitTestTouch

        widget = self.app.root.ids[widget_id]
        touch = UnitTestTouch(*widget.to_window(*widget.center))
        touch.touch_down()
        await asyncio.sleep(hold_s)
        touch.touch_up()
        self.steps.append(f"hold {widget_id} {hold_s}s")
        await self.frames()

    async def type(self, digits: str) -> None:
        for key in digits:
            await self.tap(f"key-{key}")

    def check_targets(self, screen: str) -> None:
        """Every visible touch target is at least 48 dp each way and 8 dp from the next
        (WCAG 2.2 SC 2.5.8; theme.MIN_TARGET_DP, MIN_SPACING_DP). Findings go to the facts."""
        from kivy.metrics import dp
        from kivy.uix.behaviors import ButtonBehavior

        from healthhub.ui.theme import MIN_SPACING_DP, MIN_TARGET_DP

        targets = []
        for widget in self._walk(self.app.root, visible_only=True):
            if isinstance(widget, ButtonBehavior) and widget.width > 0:
                x, y = widget.to_window(widget.x, widget.y)
                targets.append((getattr(widget, "tag", "") or type(widget).__name__, x, y, widget))
        small = self.facts.setdefault("small_targets", [])
        close = self.facts.setdefault("crowded_targets", [])
        for tag, _, _, widget in targets:
            if min(widget.width, widget.height) < dp(MIN_TARGET_DP):
                size = f"{widget.width / dp(1):.0f}x{widget.height / dp(1):.0f} dp"
                small.append(f"{screen}: {tag} {size}")
        for i, (tag_a, xa, ya, a) in enumerate(targets):
            for tag_b, xb, yb, b in targets[i + 1 :]:
                gap_x = max(xb - (xa + a.width), xa - (xb + b.width))
                gap_y = max(yb - (ya + a.height), ya - (yb + b.height))
                if max(gap_x, gap_y) < dp(MIN_SPACING_DP) - 0.5:
                    close.append(f"{screen}: {tag_a} / {tag_b}")

    async def shot(self, name: str) -> Path:
        from kivy.core.window import Window

        await self.frames(3)
        self.check_targets(name)
        self.shots += 1
        path = self.out / f"{self.shots:02d}-{self.language}-{name}.png"
        # Window.screenshot numbers the file itself (name0001.png): take it, then rename.
        taken = Window.screenshot(name=str(self.out / "shot.png"))
        Path(taken).replace(path)  # noqa: ASYNC240 - a rename, on the UI's own loop
        self.steps.append(f"screenshot {path.name}")
        return path

    def check(self, condition: object, message: str) -> None:
        if not condition:
            raise DriverFailure(f"{message}; on screen: {self.visible_texts()}")

    async def ask_test(self, want: str, timeout: float = 180) -> None:
        """Ask the test to do ``want`` (push, send commands) and wait until it says done."""
        control = self.out / "control.json"
        control.write_text(json.dumps({"want": want}))

        def done() -> bool:
            return json.loads(control.read_text()).get("done") == want

        await self.wait(f"the test to do {want!r}", done, timeout)

    async def agent_restart(self) -> None:
        """Ask the test to kill -9 and restart the agent; wait until we are connected again."""
        control = self.out / "control.json"
        control.write_text(json.dumps({"want": "agent_restart"}))
        await self.wait("the UI to notice the agent is gone", lambda: not self.app.connected, 30)
        await self.shot("reconnecting")
        await self.wait("the UI to reconnect", lambda: self.app.connected, 60)
        control.unlink(missing_ok=True)


# -- scenarios -------------------------------------------------------------------------------

NHS = "9434765919"
DOB = "01031950"


async def _start(d: Driver) -> None:
    await d.screen("attract")
    await d.shot("attract")
    if d.language != "en":
        await d.tap(f"language-{d.language}")
        d.check(d.app.language == d.language, f"language {d.language} chosen")
        await d.shot("attract-language")
    await d.tap("start")
    await d.screen("identify")


@scenario
async def urgent_blood_pressure(d: Driver) -> None:
    """identify → blood pressure → urgent result (alert) → send → finish → nothing left."""
    await _start(d)
    await d.shot("identify")
    await d.type("9434765918")  # a typo in the check digit
    await d.type(DOB)
    await d.tap("identify-continue")
    await d.wait(
        "the NHS number error", lambda: d.app.root.ids.screens.current_screen.ids.error.text
    )
    await d.shot("identify-error")
    await d.tap("field-nhs")
    await d.tap("key-back")
    await d.type("9")
    await d.tap("identify-continue")
    await d.screen("home")
    await d.shot("home")
    await d.tap("tile-blood_pressure")
    await d.screen("measure")
    step = 1
    await d.shot(f"step-{step}")
    while d.find("step-next") is not None:
        await d.tap("step-next")
        step += 1
        await d.shot(f"step-{step}")
    await d.tap("measure-start")
    await d.wait("measuring", lambda: d.app.journey.flow.state.value == "measuring", 20)
    await d.shot("measuring")
    await d.screen("result", timeout=30)
    await d.wait("the urgent notice", lambda: d.app.journey.urgent_notice)
    await d.shot("result-urgent")
    d.facts["urgent_notice"] = d.app.root.ids.screens.current_screen.ids.urgent.text
    d.facts["result_texts"] = d.visible_texts()
    await d.tap("tool-text-size")
    await d.tap("tool-text-size")
    await d.shot("result-largest-text")
    await d.tap("tool-contrast")
    await d.shot("result-high-contrast")
    await d.tap("tool-read-aloud")
    await d.tap("tool-text-size")
    await d.tap("tool-contrast")
    await d.tap("result-finish")
    await d.screen("send")
    await d.shot("send")
    await d.tap("send-yes")
    await d.screen("finished")
    await d.shot("finished")
    texts = "\n".join(d.all_texts())
    d.facts["left_on_screen"] = [s for s in (NHS, "943 476 5919", "1950", "186/") if s in texts]
    d.facts["journey_after"] = {
        "patient": d.app.journey.patient,
        "readings": len(d.app.journey.readings),
        "session": d.app.journey.session,
    }
    await d.tap("finished-done")
    await d.screen("attract")


@scenario
async def faults(d: Driver) -> None:
    """An impossible value, then the device lost mid-measurement, then the agent restarts."""
    await _start(d)
    await d.tap("identify-skip")
    await d.screen("home")
    await d.tap("tile-blood_pressure")
    while d.find("step-next") is not None:
        await d.tap("step-next")
    await d.tap("measure-start")
    await d.wait("the refused value", lambda: d.app.journey.flow.state.value == "refused", 30)
    await d.shot("refused")
    await d.tap("measure-retry")
    await d.wait("the device error", lambda: d.app.journey.flow.state.value == "error", 30)
    await d.shot("device-error")
    await d.agent_restart()
    await d.shot("reconnected")
    await d.tap("measure-retry")  # the old session is gone: the UI starts a new one quietly
    await d.screen("result", timeout=40)
    await d.shot("result-after-restart")
    d.facts["result_texts"] = d.visible_texts()


@scenario
async def idle_wipe(d: Driver) -> None:
    """Walk away: the warning counts down (I'm still here extends it), then everything goes."""
    await _start(d)
    await d.type(NHS)
    await d.wait("the idle warning", lambda: d.app.idle_warning, 60)
    await d.shot("idle-warning")
    await d.tap("still-here")
    d.check(not d.app.idle_warning, "I'm still here hides the warning")
    d.check(d.app.root.ids.screens.current == "identify", "and the patient carries on")
    await d.wait("the idle warning again", lambda: d.app.idle_warning, 60)
    await d.screen("attract", timeout=60)
    await d.shot("after-idle")
    texts = "\n".join(d.all_texts())
    d.facts["left_on_screen"] = [s for s in ("943 476 5919", NHS) if s in texts]


@scenario
async def staff(d: Driver) -> None:
    """Long-press the corner, PIN, the unit's state (and the configuration problem)."""
    await d.screen("attract")
    await d.shot("attract")
    await d.tap_at("staff_corner", hold_s=3.3)
    await d.wait("the PIN pad", lambda: d.app.staff.asking_pin)
    for key in "2468":
        await d.tap(f"pin-{key}")
    await d.tap("pin-ok")
    await d.wait("the staff report", lambda: d.app.staff.unlocked, 20)
    await d.shot("staff")
    d.facts["staff_report"] = d.app.root.ids.staff.ids.report.text
    await d.tap("staff-close")


@scenario
async def remote_control(d: Driver) -> None:
    """IT staff's commands reach the screen (identify, a screenshot of the attract screen,
    settings pushed live), and a screenshot is refused once a patient has started."""
    await d.screen("attract")
    await d.shot("attract")
    d.facts["languages_before"] = list(d.app.journey.languages)
    await d.ask_test("remote")
    await d.wait("the device id on screen", lambda: d.app.identify_text, 30)
    d.facts["identify_text"] = d.app.identify_text
    await d.shot("identify")
    await d.wait("the pushed languages", lambda: d.app.journey.languages == ["en", "pl"], 60)
    await d.frames(3)
    d.facts["language_buttons"] = sorted(
        w.tag
        for w in d._walk(d.app.root, visible_only=True)
        if str(getattr(w, "tag", "")).startswith("language-")
    )
    await d.shot("pushed-settings")
    await d.tap("start")
    await d.screen("identify")
    await d.ask_test("in-session")


async def _answer(d: Driver, question: str, value: str, shot: str | None = None) -> None:
    """Touch an answer of the question shown, then go on (Next)."""
    await d.wait(f"question {question}", lambda: d.find(f"answer-{question}-{value}"))
    await d.tap(f"answer-{question}-{value}")
    if shot:
        await d.shot(shot)


async def _type_into(d: Driver, question: str, text: str, shot: str | None = None) -> None:
    """Touch a text field, clear it and type ``text`` on the on-screen keyboard, key by key
    (capitals with shift held), then touch its Enter key, which puts the keyboard away."""
    from kivy.core.window import Window
    from kivy.uix.vkeyboard import VKeyboard

    await d.tap(f"input-{question}")
    field = d.find(f"input-{question}")
    d.check(field is not None, f"field {question}")
    keyboard = await d.wait(
        "the on-screen keyboard",
        lambda: next((w for w in Window.children if isinstance(w, VKeyboard)), None),
    )
    for _ in field.text:
        await _press(d, keyboard, "backspace")
    for char in text:
        await _press(d, keyboard, char)
    d.check(field.text == text, f"typed {text!r} into {question}, got {field.text!r}")
    if shot:
        await d.shot(shot)
    await _press(d, keyboard, "enter")
    d.steps.append(f"type into {question} on the on-screen keyboard")
    await d.frames()


def _key_centre(keyboard: Any, mode: str, wanted: str) -> tuple[float, float] | None:
    """Window position of the key that types ``wanted`` (or has that special name)."""
    layout = keyboard.available_layouts[keyboard.layout]
    for line in range(1, layout["rows"] + 1):
        for index, key in enumerate(layout[f"{mode}_{line}"]):
            if wanted in (key[1], key[2]):
                (x, y), (w, h) = keyboard.layout_geometry[f"LINE_{line}"][index]
                return keyboard.to_parent(x + w / 2, y + h / 2)  # a Scatter on the Window
    return None


async def _press(d: Driver, keyboard: Any, wanted: str) -> None:
    from kivy.tests.common import UnitTestTouch

    centre = _key_centre(keyboard, "normal", wanted)
    shift = None
    if centre is None:  # a capital or a symbol: hold shift, as a patient would
        centre = _key_centre(keyboard, "shift", wanted)
        position = _key_centre(keyboard, "normal", "shift")
        d.check(centre is not None and position is not None, f"a key for {wanted!r}")
        shift = UnitTestTouch(*position)
        shift.touch_down()
        await d.frames(1)
    assert centre is not None
    touch = UnitTestTouch(*centre)
    touch.touch_down()
    touch.touch_up()
    if shift is not None:
        shift.touch_up()
    await d.frames(1)


def _screen_texts(d: Driver) -> list[str]:
    return [t for t in d.visible_texts() if t.strip()]


@scenario
async def phq9_crisis(d: Driver) -> None:
    """PHQ-9 without details: item 9 answered 'several days' shows crisis signposting at
    once (and the staff are told); the patient goes back, finishes and sends the form."""
    await _start(d)
    await d.tap("identify-skip")
    await d.screen("home")
    await d.shot("home")
    await d.tap("tile-questionnaires")
    await d.screen("forms")
    await d.shot("forms")
    await d.tap("form-phq-9")
    await d.screen("form")
    answers = ["not_at_all", "several_days", "not_at_all", "more_than_half", "several_days",
               "not_at_all", "several_days", "not_at_all"]  # fmt: skip
    for number, value in enumerate(answers, start=1):
        await _answer(d, f"q{number}", value, shot=f"phq9-q{number}" if number == 1 else None)
        await d.tap("form-next")
    await _answer(d, "q9", "several_days")
    await d.screen("signpost")
    await d.wait("staff told", lambda: d.app.journey.form_flow.alerted, 20)
    await d.shot("crisis")
    d.facts["signpost_texts"] = _screen_texts(d)
    await d.tap("signpost-continue")
    await d.screen("form")
    await d.tap("form-next")
    await _answer(d, "q10", "somewhat_difficult")
    await d.tap("form-next")
    await d.screen("form_done", timeout=30)
    await d.shot("form-done")
    d.facts["done_texts"] = _screen_texts(d)
    d.facts["scores"] = d.app.journey.form_flow.scores
    await d.tap("form-done-finish")
    await d.screen("finished")


@scenario
async def change_details(d: Driver) -> None:
    """Identify, change address and phone; a wrong postcode is caught on the screen."""
    await _start(d)
    await d.type(NHS)
    await d.type(DOB)
    await d.tap("identify-continue")
    await d.screen("home")
    await d.tap("tile-my_details")
    await d.screen("form")
    await d.shot("details-what")
    await _answer(d, "details", "address")
    await _answer(d, "details", "phone")
    await d.tap("form-next")
    await _type_into(d, "address_line_1", "10 Downing Street")
    await _type_into(d, "town", "London")
    await _type_into(d, "postcode", "SW1A 1A")
    await d.tap("form-next")
    await d.wait("the postcode error", lambda: d.app.journey.form_flow.errors.get("postcode"))
    await d.shot("details-bad-postcode")
    d.facts["postcode_error"] = d.app.journey.form_flow.errors.get("postcode")
    await _type_into(d, "postcode", "sw1a2aa")
    await d.tap("form-next")
    await d.wait("the phone page", lambda: d.find("input-phone_number"))
    await _type_into(d, "phone_number", "07700 900461", shot="details-keyboard")
    await _answer(d, "texts_ok", "true")
    await d.shot("details-phone")
    while d.app.root.ids.screens.current == "form":
        await d.tap("form-next")
    await d.screen("form_done", timeout=30)
    await d.shot("details-sent")
    d.facts["done_texts"] = _screen_texts(d)
    await d.tap("form-done-finish")
    await d.screen("finished")
    texts = "\n".join(d.all_texts())
    d.facts["left_on_screen"] = [s for s in (NHS, "Downing", "900461") if s in texts]


@scenario
async def browse_services(d: Driver) -> None:
    """In the patient's language: community services by group, on the map, and a page of
    health information with its QR code."""
    await _start(d)
    await d.tap("identify-skip")
    await d.screen("home")
    await d.shot("home")
    await d.tap("tile-services")
    await d.screen("services")
    await d.shot("services-all")
    category = d.app.journey.content.directory.categories[0].id
    await d.tap(f"category-{category}")
    await d.shot("services-category")
    d.facts["services_texts"] = _screen_texts(d)
    d.facts["services_shown"] = [s.id for s in d.app.journey.services()]
    await d.tap("services-map")
    await d.wait("the map", lambda: d.app.journey.show_map)
    await d.shot("services-map")
    await d.tap("services-back")
    await d.screen("home")
    await d.tap("tile-information")
    await d.screen("info")
    await d.shot("information")
    page = d.app.journey.content.pages[0].id
    await d.tap(f"page-{page}")
    await d.screen("page")
    await d.shot("information-page")
    d.facts["page_texts"] = _screen_texts(d)
    d.facts["qr_shown"] = d.app.root.ids.screens.current_screen.ids.qr.texture is not None
    shown = d.app.journey.info_page
    d.facts["page_title"] = shown.title.get(d.language)
    d.facts["page_url"] = shown.url
    if d.app.can_print:
        await d.tap("page-print")
        await d.wait("the page printed", lambda: d.app.journey.tally.printed, 20)
    await d.tap("page-back")
    await d.screen("info")
    await d.tap("info-back")
    await d.screen("home")
    await d.tap("tile-support")
    await d.screen("support")
    await d.shot("support")
    d.facts["support_texts"] = _screen_texts(d)
    await d.tap("tool-start-again")
    await d.screen("attract")


async def _run(app: Any, name: str, out: Path, language: str) -> None:
    facts: dict[str, Any] = {}
    driver = Driver(app, out, language, facts)
    result: dict[str, Any] = {"ok": False, "scenario": name, "language": language}
    try:
        await driver.wait("the agent's hello", lambda: app.journey is not None, 60)
        await SCENARIOS[name](driver)
        result["ok"] = True
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    result["steps"] = driver.steps
    result["facts"] = facts
    (out / "result.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    app.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--language", default="en")
    parser.add_argument("--speech-dir", type=Path)
    parser.add_argument(
        "--touch-keyboard", action="store_true", help="the kiosk's on-screen keyboard, typed on"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    config = load_config(args.config)
    prepare_kivy(windowed=True, size="1280x800", touch_keyboard=args.touch_keyboard)
    from healthhub.ui.app import KioskApp

    assert config.local_api.socket is not None
    app = KioskApp(config.local_api.socket, speech_dir=args.speech_dir)

    async def both() -> None:
        runner = asyncio.ensure_future(_run(app, args.scenario, args.out, args.language))
        await app.async_run(async_lib="asyncio")
        await runner

    asyncio.run(both())
    result = json.loads((args.out / "result.json").read_text())
    if not result["ok"]:
        print(result.get("traceback", result.get("error")), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
