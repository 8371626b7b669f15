"""The Kivy app: screens bound to the journey view-model, talking to the agent over the local API.

Kivy runs on the asyncio loop (``App.async_run``), so the local API client and
every call to the agent are coroutines on the same loop as the screen: nothing
blocks drawing. View-models announce changes; one ``Clock`` trigger coalesces
them into one refresh per frame. Nothing about a patient is written to disk or
logged (Kivy's own file log is off: see :mod:`healthhub.ui.cli`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import tempfile
import time
from collections.abc import Coroutine
from importlib.metadata import version
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.metrics import dp, sp
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.label import Label
from kivy.uix.screenmanager import ScreenManager
from kivy.uix.widget import Widget

from healthhub.agent.local_client import AgentClient
from healthhub.protocol import local_api as api
from healthhub.ui import (
    fonts,
    theme,
    widgets,  # noqa: F401 - registers ShapedLabel before the .kv files load
)
from healthhub.ui.i18n import LANGUAGES, Translator
from healthhub.ui.screens import (
    content_screens,  # noqa: F401 - registers the content screens before the .kv files load
    kiosk_screens,
)
from healthhub.ui.speech import Speaker, SpeechUnavailable
from healthhub.ui.tiles import ASSETS
from healthhub.ui.viewmodels.idle import IdleState
from healthhub.ui.viewmodels.journey import Journey
from healthhub.ui.viewmodels.screen import Screen
from healthhub.ui.viewmodels.staff import Staff, status_lines

log = logging.getLogger(__name__)

KV_DIR = Path(__file__).parent / "screens"
UI_VERSION = version("healthhub")
FINISHED_RETURN_S = 12.0
_SETTINGS_PROBLEM = "language code"
SCREENSHOT_SCALES = (0.5, 0.35, 0.25, 0.15)


class KioskApp(App):  # type: ignore[misc]
    language = StringProperty("en")
    rtl = BooleanProperty(False)
    font = StringProperty("")
    font_bold = StringProperty("")
    value_font = StringProperty("")
    scale = NumericProperty(1.0)
    colors = DictProperty({})
    connected = BooleanProperty(False)
    ready = BooleanProperty(False)
    idle_warning = BooleanProperty(False)
    idle_remaining = NumericProperty(0)
    notice = StringProperty("")
    #: "This is kiosk-1": shown while IT staff identify the unit (not for patients)
    identify_text = StringProperty("")
    #: The unit has a receipt printer (``printer`` in device.yaml): pages can be printed.
    can_print = BooleanProperty(False)
    #: Room the on-screen keyboard takes at the bottom while a form's field has it (px).
    keyboard_room = NumericProperty(0)
    awake = BooleanProperty(True)  # False while the attract screen rests (presence sensor)
    in_session = BooleanProperty(False)
    journey = ObjectProperty(None, allownone=True)
    assets = StringProperty(str(ASSETS))

    def __init__(
        self,
        socket_path: Path,
        *,
        speech_dir: Path | None = None,
        trace_path: Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.title = "Health Hub"
        self.translator = Translator()
        self._trace_path = trace_path
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresh = Clock.create_trigger(self._do_refresh, -1)
        self.client = AgentClient(
            socket_path, on_event=self._on_event, on_hello=self._on_hello, on_link=self._on_link
        )
        self.staff = Staff(self.client)
        self.staff.listen(self._refresh)
        self.speaker = Speaker(output_dir=speech_dir)
        self._finished_at: float | None = None
        self._generation = 0
        self._shown_once = False
        self._pending_latency: float | None = None  # agent's time of the reading being shown
        self._apply_look("en", 0, high_contrast=False)

    # -- Kivy lifecycle ------------------------------------------------------------------

    def build(self) -> Widget:
        for kv in sorted(KV_DIR.glob("*.kv")):
            if kv.name != "root.kv":
                Builder.load_file(str(kv))
        root = Builder.load_file(str(KV_DIR / "root.kv"))
        Window.clearcolor = self.colors["background"]
        return root

    def on_start(self) -> None:
        self.trace("window_shown")
        self.spawn(self.client.run())
        Clock.schedule_interval(self._tick, 0.5)
        Window.bind(on_touch_down=self._any_touch)

    def on_stop(self) -> None:
        self.speaker.stop()
        for task in self._tasks:
            task.cancel()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("UI task failed: %s", type(task.exception()).__name__)
        self._refresh()

    # -- texts, fonts, colours ------------------------------------------------------------

    def t(self, message: str, *_bound: Any) -> str:
        """The text in the current language (kv: ``app.t("...", app.language)``)."""
        return self.translator.gettext(message, self.language)

    def size_sp(self, base: float, *_bound: Any) -> float:
        return float(sp(base * self.scale))

    def _apply_look(self, language: str, text_scale: int, *, high_contrast: bool) -> None:
        if language != self.language or not self.font:
            chosen = fonts.font_for(language)
            self.font, self.font_bold = str(chosen.regular), str(chosen.bold)
            self.value_font = str(fonts.font_for("en").regular)
            self.language = language
            self.rtl = bool(LANGUAGES.get(language) and LANGUAGES[language].rtl)
        self.scale = theme.TEXT_SCALES[text_scale % len(theme.TEXT_SCALES)]
        current = theme.THEMES["high_contrast" if high_contrast else "standard"]
        colors = {role: current.rgba(role) for role in theme.ROLES}
        if colors != dict(self.colors):
            self.colors = colors
            Window.clearcolor = colors["background"]

    # -- the agent ------------------------------------------------------------------------

    def _on_hello(self, hello: dict[str, Any]) -> None:
        if self.journey is None:
            journey = Journey(self.client, hello.get("ui", {}))
            journey.listen(self._refresh)
            self.journey = journey
        else:  # the agent restarted: its settings may have changed meanwhile
            self.journey.configure(hello.get("ui", {}))
        self.journey.load_content(hello.get("content_dir"))
        self.can_print = bool(hello.get("printer"))
        self._settings_problems()
        self.ready = True
        self._refresh()

    def _settings_problems(self) -> None:
        journey = self.journey
        if journey is None:
            return
        self.translator.problems[:] = [
            p for p in self.translator.problems if not p.startswith(_SETTINGS_PROBLEM)
        ] + [
            f"{_SETTINGS_PROBLEM} {code!r} in configuration has no catalogue: not offered"
            for code in journey.unknown_languages
        ]

    def _on_link(self, state: str) -> None:
        self.connected = state == "connected"
        self._refresh()

    def _on_event(self, event: api.Event) -> None:
        journey = self.journey
        if journey is None:
            return
        if event.event == "config":  # a pushed layer changed the UI settings
            journey.configure(event.data.get("ui", {}))
            self._settings_problems()
            return
        if event.event == "content":  # a content push switched what the unit serves
            journey.load_content(str(event.data.get("content_dir", "")) or None)
            return
        if event.event == "identify":
            self._identify(str(event.data.get("device", "")), float(event.data.get("seconds", 30)))
            return
        if event.event == "screenshot":
            self._screenshot(event.data)
            return
        reading = journey.on_event(event)
        if reading is not None:
            self._pending_latency = reading.received_monotonic
            self.spawn(journey.measurement_done())

    # -- IT staff's commands --------------------------------------------------------------

    def _identify(self, device: str, seconds: float) -> None:
        self.identify_text = f"This unit is {device}"
        Clock.unschedule(self._identified)
        Clock.schedule_once(self._identified, seconds)

    def _identified(self, *_args: Any) -> None:
        self.identify_text = ""

    def _screenshot(self, data: dict[str, Any]) -> None:
        """A picture of the screen for IT staff: only of the attract or staff screen, never
        of a patient's visit; scaled down until it fits ``max_bytes``."""
        request = str(data.get("request", ""))
        journey = self.journey
        if journey is None or journey.screen != Screen.ATTRACT or journey.session is not None:
            self.spawn(self._send_screenshot(request, refused="a patient's screen is showing"))
            return
        png = screen_png(self.root, int(data.get("max_bytes", 0)))
        if png is None:
            self.spawn(self._send_screenshot(request, refused="the screen does not fit the bound"))
        else:
            self.spawn(self._send_screenshot(request, png=png))

    async def _send_screenshot(self, request: str, *, png: bytes = b"", refused: str = "") -> None:
        if refused:
            await self.client.call("screenshot.done", request=request, refused=refused)
        else:
            encoded = base64.b64encode(png).decode("ascii")
            await self.client.call("screenshot.done", request=request, png_base64=encoded)

    # -- refresh and timers -----------------------------------------------------------------

    def _do_refresh(self, *_args: Any) -> None:
        journey = self.journey
        if journey is None or self.root is None or App.get_running_app() is not self:
            return  # not started yet, or stopping: kv rules can no longer reach the app
        self._apply_look(journey.language, journey.text_scale, high_contrast=journey.high_contrast)
        manager = self.root.ids.screens
        if journey.generation != self._generation:
            # A wipe: every screen drops what it showed, not only the one in front.
            self._generation = journey.generation
            for screen in manager.screens:
                screen.refresh(self, journey)
        name = journey.screen.value
        if manager.current != name or not self._shown_once:
            self._shown_once = True
            manager.current = name
            self._screen_shown(journey.screen)
        manager.current_screen.refresh(self, journey)
        self._language_grid(journey)
        self.notice = self.t(journey.notice) if journey.notice else ""
        self.awake = journey.awake
        self.in_session = journey.session is not None
        self.root.ids.staff.refresh(self, self.staff, self._staff_lines())

    def _language_grid(self, journey: Journey) -> None:
        overlay = self.root.ids.languages

        def choose(code: str) -> None:
            journey.choose_language(code)
            overlay.shown = False

        kiosk_screens.language_buttons(
            self.root.ids.language_grid, journey, "choose-language", choose
        )

    def _screen_shown(self, screen: Screen) -> None:
        self._finished_at = time.monotonic() if screen == Screen.FINISHED else None
        if screen == Screen.ATTRACT:
            Clock.schedule_once(lambda _dt: self.trace("attract_shown"), 0)
        if screen == Screen.RESULT:
            received = self._pending_latency
            self._pending_latency = None
            Clock.schedule_once(lambda _dt: self.trace("result_shown", received=received), 0)

    def _tick(self, _dt: float) -> None:
        journey = self.journey
        if journey is None:
            return
        journey.expire_notices()
        self.awake = journey.awake
        state = journey.idle_state()
        warning = state == IdleState.WARNING
        if warning != self.idle_warning or (
            warning and journey.idle.remaining_s() != self.idle_remaining
        ):
            self.idle_warning = warning
            self.idle_remaining = journey.idle.remaining_s()
        if state == IdleState.EXPIRED:
            self.idle_warning = False
            self.staff.close()
            self.spawn(journey.end("idle"))
        if (
            self._finished_at is not None
            and time.monotonic() - self._finished_at > FINISHED_RETURN_S
        ):
            self._finished_at = None
            journey.wipe()

    def _any_touch(self, _window: Any, _touch: Any) -> None:
        if self.journey is not None and not self.idle_warning:
            self.journey.idle.touch()

    def still_here(self) -> None:
        if self.journey is not None:
            self.idle_warning = False
            self.journey.touch()

    # -- staff ----------------------------------------------------------------------------

    def _staff_lines(self) -> list[str]:
        problems = list(dict.fromkeys(self.translator.problems))
        if self.journey is not None:
            problems += [f"content: {p}" for p in self.journey.content_problems]
        if not self.connected:
            problems.append(f"agent: not connected ({self.client.last_error or 'starting'})")
        return status_lines(self.staff.report, UI_VERSION, problems)

    # -- read aloud -------------------------------------------------------------------------

    def read_aloud(self) -> None:
        """Speak every text on the screen, top to bottom, in the patient's language."""
        if self.root is None:
            return
        texts = [text for _, text in sorted(_visible_texts(self.root), key=lambda p: p[0])]
        if self.journey is not None:
            self.journey.tally.read_aloud += 1
        try:
            self.speaker.speak(". ".join(texts), self.language)
        except SpeechUnavailable as exc:
            log.warning("read aloud unavailable: %s", exc)

    # -- the on-screen keyboard ------------------------------------------------------------

    def keyboard_focus(self, field: Widget, focused: bool) -> None:
        """A form's text field took or gave up the keyboard. The docked on-screen keyboard
        (a kiosk's only one) covers the bottom of the window: the form makes room for it and
        scrolls the field into view, so nothing a patient types is hidden."""
        Clock.schedule_once(lambda _dt: self._make_room(field, focused), 0)

    def _make_room(self, field: Widget, focused: bool) -> None:
        from kivy.uix.scrollview import ScrollView
        from kivy.uix.vkeyboard import VKeyboard

        keyboard = next((w for w in Window.children if isinstance(w, VKeyboard)), None)
        self.keyboard_room = keyboard.height * keyboard.scale if focused and keyboard else 0
        scroller = field.parent
        while scroller is not None and not isinstance(scroller, ScrollView):
            scroller = None if scroller is scroller.parent else scroller.parent  # Window: own
        if scroller is not None:
            view = scroller
            # with its question above it in view
            Clock.schedule_once(lambda _dt: view.scroll_to(field, padding=120, animate=False), 0)

    # -- information pages: listen and print ------------------------------------------------

    def page_audio(self, page: Any) -> Path | None:
        """The spoken version of an information page in the patient's language, if any."""
        folder = self.journey.content_folder if self.journey is not None else None
        name = page.audio.get(self.language) if page is not None else None
        return folder / name if folder is not None and name else None

    def play_page_audio(self) -> None:
        from kivy.core.audio import SoundLoader

        journey = self.journey
        path = self.page_audio(journey.info_page if journey is not None else None)
        sound = SoundLoader.load(str(path)) if path is not None else None
        if sound is None:
            log.warning("page audio cannot be played on this unit")
            return
        sound.play()

    async def print_page(self) -> None:
        """Print the page on the unit's receipt printer (public information, never about the
        patient); the agent owns the printer."""
        journey = self.journey
        page = journey.info_page if journey is not None else None
        if journey is None or page is None:
            return
        try:
            await self.client.call("page.print", page=page.id, language=self.language)
        except api.LocalApiError as exc:
            journey.notice = kiosk_screens.PRINT_FAILED
            log.warning("printing failed: %s", exc.code)
        except Exception:
            journey.notice = kiosk_screens.PRINT_FAILED
        else:
            journey.tally.printed += 1
        journey.changed()

    # -- trace for bench/ui_latency.py (times only, never patient data) ----------------------

    def trace(self, event: str, **fields: Any) -> None:
        if self._trace_path is None:
            return
        line = json.dumps({"event": event, "monotonic": time.monotonic(), **fields})
        with self._trace_path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def _visible_texts(root: Widget) -> list[tuple[tuple[float, float], str]]:
    found: list[tuple[tuple[float, float], str]] = []

    def walk(widget: Widget) -> None:
        if getattr(widget, "opacity", 1) == 0 or getattr(widget, "disabled", False):
            return
        if (
            isinstance(widget, Label)
            and widget.text.strip()
            and not getattr(widget, "silent", False)
        ):
            x, y = widget.to_window(widget.x, widget.top)
            found.append(((-round(y / dp(8)), x), widget.text))
        if isinstance(widget, ScreenManager):
            current = widget.current_screen
            if current is not None:
                walk(current)
            return
        for child in reversed(widget.children):
            walk(child)

    walk(root)
    return found


def run(socket_path: Path, *, speech_dir: Path | None, trace_path: Path | None) -> None:
    app = KioskApp(socket_path, speech_dir=speech_dir, trace_path=trace_path)
    asyncio.run(app.async_run(async_lib="asyncio"))


def screen_png(root: Widget | None, max_bytes: int) -> bytes | None:
    """The window's content as a PNG of at most ``max_bytes``, at the largest of a few
    scales that fits (a calm, flat screen compresses well); None if none fits."""
    if root is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "screen.png"
        for scale in SCREENSHOT_SCALES:
            root.export_as_image(scale=scale).save(str(target))
            data = target.read_bytes()
            if len(data) <= max_bytes:
                return data
    return None
