"""The screens' thin widget classes: each ``refresh`` copies view-model state into widgets.

Layout and static texts are in the ``.kv`` file of the same name; what a
button does is a view-model method. Dynamic content (tiles, results, language
buttons) is built here from the view-model, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.factory import Factory
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import Screen

from healthhub.ui.banding import FAMILY_BACKGROUND_OPTIONS
from healthhub.ui.i18n import LANGUAGES, N_
from healthhub.ui.viewmodels.journey import IdentifyField
from healthhub.ui.viewmodels.measurement import RETRY_STATES, MeasureState

if TYPE_CHECKING:
    from healthhub.ui.app import KioskApp
    from healthhub.ui.viewmodels.journey import Journey
    from healthhub.ui.viewmodels.staff import Staff


PRINT_FAILED = N_("The page could not be printed. Please ask at reception.")


class Overlay(FloatLayout):  # type: ignore[misc]
    """A layer over the screens that takes touches only while it is shown."""

    shown = BooleanProperty(False)

    def on_touch_down(self, touch: Any) -> bool:
        if not self.shown:
            return False
        super().on_touch_down(touch)
        return True

    def on_touch_move(self, touch: Any) -> bool:
        if not self.shown:
            return False
        super().on_touch_move(touch)
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if not self.shown:
            return False
        super().on_touch_up(touch)
        return True


class MirrorBox(BoxLayout):  # type: ignore[misc]
    """A horizontal row that runs right to left while ``mirrored`` (Urdu): Kivy's BoxLayout
    only runs left to right, so the children are re-added in reverse order."""

    mirrored = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        self._applied = False
        super().__init__(**kwargs)
        Clock.schedule_once(lambda _dt: self.on_mirrored(), 0)

    def on_mirrored(self, *_args: Any) -> None:
        if self._applied == self.mirrored:
            return
        self._applied = self.mirrored
        children = list(self.children)
        self.clear_widgets()
        for child in children:
            self.add_widget(child)


def language_buttons(
    box: Any, journey: Journey, tag_prefix: str, choose: Callable[[str], None]
) -> None:
    """One button per offered language, each in its own script; the chosen one selected."""
    if [button.code for button in reversed(box.children)] != journey.languages:
        box.clear_widgets()
        for code in journey.languages:
            box.add_widget(
                make(
                    "LanguageButton",
                    label=LANGUAGES[code].name,
                    own_language=code,
                    code=code,
                    tag=f"{tag_prefix}-{code}",
                    on_release=lambda b: choose(b.code),
                )
            )
    for button in box.children:
        button.selected = button.code == journey.language


def _show(widget: Any, visible: bool) -> None:
    """Show a widget, or take it out of the row entirely (no gap, no touch, not read aloud)."""
    widget.opacity = 1 if visible else 0
    widget.disabled = not visible
    widget.size_hint_x = 1 if visible else None
    if not visible:
        widget.width = 0


class KioskScreen(Screen):  # type: ignore[misc]
    def refresh(self, app: KioskApp, journey: Journey) -> None:
        """Copy what this screen shows from the journey (called once per changed frame)."""


def make(kind: str, **properties: Any) -> Any:
    """A widget of a kv dynamic class; its kv-declared properties exist only after creation."""
    widget = getattr(Factory, kind)()
    for name, value in properties.items():
        if name.startswith("on_"):
            widget.bind(**{name: value})
        else:
            setattr(widget, name, value)
    return widget


class AttractScreen(KioskScreen):
    _notices: object = None

    def refresh(self, app: KioskApp, journey: Journey) -> None:
        self._show_notices(app, journey)
        language_buttons(self.ids.languages, journey, "language", journey.choose_language)
        offers = [app.t(tile.title) for tile in journey.offered_tiles]
        self.ids.offers.text = "  ·  ".join(offers)
        self.ids.start.disabled = not journey.is_open
        opening = journey.next_opening
        if journey.is_open:
            self.ids.hours.text = ""
        elif opening is None:
            self.ids.hours.text = app.t("This unit is closed.")
        else:
            self.ids.hours.text = app.t("This unit is closed. It opens on {day} at {time}.").format(
                day=app.t(opening.day_name), time=opening.at.strftime("%H:%M")
            )

    def _show_notices(self, app: KioskApp, journey: Journey) -> None:
        today = journey.today  # a notice's last day ends even if nobody comes
        notices = journey.content.current_notices(today)
        key = (tuple(n.id for n in notices), app.language, journey.generation, today)
        if key == self._notices:
            return
        self._notices = key
        box = self.ids.notices
        box.clear_widgets()
        for notice in notices:
            shown = app.language if notice.text.has(app.language) else "en"
            box.add_widget(
                make(
                    "KLabel", text=notice.text.get(shown), fixed_language=shown, align="center",
                    bold_text=True,
                )
            )  # fmt: skip


class IdentifyScreen(KioskScreen):
    def refresh(self, app: KioskApp, journey: Journey) -> None:
        nhs = journey.nhs_number.digits
        self.ids.nhs_number.text = " ".join(filter(None, (nhs[:3], nhs[3:6], nhs[6:])))
        self.ids.day.text = journey.day.digits
        self.ids.month.text = journey.month.digits
        self.ids.year.text = journey.year.digits
        for field in IdentifyField:
            self.ids[field.value].selected = journey.field == field
        error = journey.identify_error
        self.ids.error.text = "" if error is None else error.text(app.t)


class HomeScreen(KioskScreen):
    _tiles: tuple[str, ...] = ()

    def refresh(self, app: KioskApp, journey: Journey) -> None:
        grid = self.ids.tiles
        names = tuple(t.name for t in journey.offered_tiles)
        if names != self._tiles:
            self._tiles = names
            grid.clear_widgets()
            for tile in journey.offered_tiles:
                grid.add_widget(
                    make(
                        "TileButton",
                        title=tile.title,
                        icon=tile.icon,
                        tag=f"tile-{tile.name}",
                        on_release=lambda b: journey.choose_tile(b.tag.removeprefix("tile-")),
                    )
                )
        self.ids.finish.text = (
            app.t("I have finished") if journey.readings else app.t("Go back to the start")
        )


class MeasureScreen(KioskScreen):
    def refresh(self, app: KioskApp, journey: Journey) -> None:
        flow = journey.flow
        if flow is None:
            return
        steps = flow.state == MeasureState.STEPS
        self.ids.title.text = app.t(flow.tile.title)
        self.ids.picture.source = str(app.assets + "/" + flow.current_step.picture)
        self.ids.step_text.text = app.t(flow.current_step.text) if steps else ""
        self.ids.step_count.text = (
            app.t("Step {n} of {total}").format(n=flow.step + 1, total=len(flow.tile.steps))
            if steps
            else ""
        )
        self.ids.status.text = "" if steps else app.t(flow.status_text)
        self.ids.status_symbol.opacity = 0 if steps else 1
        self.ids.status_symbol.source = (
            app.assets
            + "/symbols/"
            + ("attention.png" if flow.state in RETRY_STATES else "info.png")
        )
        show = {
            "previous": steps and flow.step > 0,
            "next": steps and not flow.on_last_step,
            "begin": steps and flow.on_last_step,
            "retry": flow.state in RETRY_STATES,
        }
        for tag, visible in show.items():
            _show(self.ids[tag], visible)


class BackgroundScreen(KioskScreen):
    _built = False

    def refresh(self, app: KioskApp, journey: Journey) -> None:
        if self._built:
            return
        self._built = True
        box = self.ids.options
        for background, label in FAMILY_BACKGROUND_OPTIONS:
            button = make("KButton", tag=f"background-{background.value}", message=label)
            button.bind(
                on_release=lambda _b, bg=background: app.spawn(journey.choose_background(bg))
            )
            box.add_widget(button)


class ResultScreen(KioskScreen):
    _shown: object = None
    _language = ""

    def refresh(self, app: KioskApp, journey: Journey) -> None:
        # Cards are rebuilt only when the results or the language change: every label is a
        # texture to render and upload, and this screen is the one a patient waits for.
        key = (journey.results_version, app.language)
        if self._shown == key:
            return
        self._shown = key
        box = self.ids.results
        box.clear_widgets()
        for item in journey.results:
            card = make("ResultCard")
            card.ids.title.text = app.t(item.title)
            card.ids.value.text = f"{item.value} {app.t(item.unit)}"
            if item.band is not None:
                card.ids.symbol.source = f"{app.assets}/symbols/{item.band.symbol}.png"
                card.ids.band.text = app.t(item.band.title)
                lines = [app.t(item.band.advice), *(app.t(c) for c in item.band.cautions)]
                card.ids.advice.text = "\n".join(lines)
                card.ids.source.text = item.band.source
                card.urgent = item.band.urgent
            else:
                card.ids.symbol.opacity = 0
            box.add_widget(card)
        self.ids.urgent.text = app.t(journey.urgent_notice) if journey.urgent_notice else ""
        self.ids.urgent_box.opacity = 1 if journey.urgent_notice else 0


class SendScreen(KioskScreen):
    def refresh(self, app: KioskApp, journey: Journey) -> None:
        self.ids.identified.text = (
            ""
            if journey.patient is None
            else app.t("Your NHS number ends in {last}.").format(
                last=journey.patient["nhs_number"][-3:]
            )
        )


class FinishedScreen(KioskScreen):
    def refresh(self, app: KioskApp, journey: Journey) -> None:
        self.ids.farewell.text = app.t(journey.farewell) if journey.farewell else ""


class StaffPanel(Overlay):
    pin_text = StringProperty("")

    def refresh(self, app: KioskApp, staff: Staff, lines: list[str]) -> None:
        self.shown = staff.asking_pin or staff.unlocked
        self.pin_text = "•" * len(staff.pin.digits)
        self.ids.pin_box.opacity = 1 if staff.asking_pin else 0
        self.ids.report_box.opacity = 1 if staff.unlocked else 0
        self.ids.error.text = staff.error
        self.ids.report.text = "\n".join(lines) if staff.unlocked else ""
