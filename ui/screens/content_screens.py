"""The screens of pushed content: forms, signposts, information pages, services, support.

Like ``kiosk_screens.py``: each ``refresh`` copies view-model state into widgets and builds
the dynamic parts (questions, lists) only when what they show changed. Texts that come
from content are shown in the language they were written in (``fixed_language``), which is
the patient's when a translation exists and English otherwise.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.core.image import Image as CoreImage

from healthhub.protocol.forms import Question
from healthhub.protocol.texts import Text
from healthhub.ui.i18n import N_
from healthhub.ui.screens.kiosk_screens import KioskScreen, _show, make
from healthhub.ui.signposts import SIGNPOSTS, STAFF_TOLD
from healthhub.ui.viewmodels.form_flow import ONLY_ENGLISH, TYPED, FormState
from healthhub.ui.viewmodels.hours import DAY_NAMES

if TYPE_CHECKING:
    from healthhub.ui.app import KioskApp
    from healthhub.ui.viewmodels.form_flow import FormFlow
    from healthhub.ui.viewmodels.journey import Journey

#: Words for a yes/no question's two answers, and the buttons that change their words.
YES, NO = N_("Yes"), N_("No")
NEXT, SEND = N_("Next"), N_("Send")
ALL = N_("All")
AS_MAP, AS_LIST = N_("Show on a map"), N_("Show as a list")
DROP_IN, BOOK = N_("Drop in, no need to book"), N_("Please book a place")


def content_language(text: Text | None, language: str) -> str:
    """The language a content text will be shown in: the patient's if translated."""
    return language if text is not None and text.has(language) else "en"


def content_label(kind: str, text: Text | None, language: str, **properties: Any) -> Any:
    """A label of ``kind`` showing a content text in the patient's language, else English."""
    shown = content_language(text, language)
    return make(
        kind,
        text="" if text is None else text.get(shown),
        fixed_language=shown,
        **properties,
    )


class ChoiceListScreen(KioskScreen):
    """A list of buttons, one per form or page, each in the patient's language if it has a
    translation; rebuilt only when the entries or the language change."""

    _shown: object = None
    box_id = ""
    tag_prefix = ""

    def entries(self, journey: Journey) -> list[tuple[str, Text, Text | None]]:
        """(id, title, summary) of each entry, in order."""
        raise NotImplementedError

    def choose(self, journey: Journey, entry: str) -> None:
        raise NotImplementedError

    def refresh(self, app: KioskApp, journey: Journey) -> None:
        entries = self.entries(journey)
        key = (tuple(e[0] for e in entries), app.language, journey.generation)
        if key == self._shown:
            return
        self._shown = key
        box = self.ids[self.box_id]
        box.clear_widgets()
        for entry, title, summary in entries:
            shown = content_language(title, app.language)
            label = title.get(shown) + (f"\n{summary.get(shown)}" if summary else "")
            button = make(
                "ListButton", label=label, own_language=shown, tag=f"{self.tag_prefix}-{entry}"
            )
            button.bind(
                on_release=lambda b: self.choose(journey, b.tag.removeprefix(f"{self.tag_prefix}-"))
            )
            box.add_widget(button)


class FormsScreen(ChoiceListScreen):
    box_id, tag_prefix = "forms", "form"

    def entries(self, journey: Journey) -> list[tuple[str, Text, Text | None]]:
        return [(f.id, f.title, None) for f in journey.forms_for("questionnaire")]

    def choose(self, journey: Journey, entry: str) -> None:
        journey.open_form(entry)


class FormScreen(KioskScreen):
    _shown: object = None
    _scrolled: object = ()
    _choices: dict[str, list[Any]]
    _errors: dict[str, Any]

    def refresh(self, app: KioskApp, journey: Journey) -> None:
        flow = journey.form_flow
        if flow is None:  # the patient was forgotten: nothing they typed stays in a widget
            if self._shown is not None:
                self._shown = None
                self.ids.questions.clear_widgets()
                self._choices, self._errors = {}, {}
            return
        questions = flow.questions
        key = (id(flow), flow.page.id, tuple(q.id for q in questions), journey.generation)
        if key != self._shown:
            self._shown = key
            self._build(app, journey, flow, questions)
            self.ids.scroll.scroll_y = 1
        self.ids.title.text = flow.text(flow.form.title)
        self.ids.title.fixed_language = flow.language
        self.ids.only_english.text = "" if flow.translated else app.t(ONLY_ENGLISH)
        pages = flow.pages
        self.ids.progress.text = app.t("Page {n} of {total}").format(
            n=min(flow.page_index, len(pages) - 1) + 1, total=len(pages)
        )
        self.ids.next.message = SEND if flow.on_last_page else NEXT
        self.ids.message.text = app.t(journey.form_message) if journey.form_message else ""
        for question in questions:
            self._mark(app, flow, question)
        self._show_first_problem(flow, questions)

    def _show_first_problem(self, flow: FormFlow, questions: list[Question]) -> None:
        """After a refused Next, scroll the first question with a problem into view."""
        key = tuple(sorted(flow.errors.items()))
        if key == self._scrolled or not flow.errors:
            self._scrolled = key
            return
        self._scrolled = key
        first = next((q.id for q in questions if q.id in flow.errors), None)
        label = self._errors.get(first) if first is not None else None
        if label is not None:
            Clock.schedule_once(lambda _dt: self.ids.scroll.scroll_to(label, padding=120), 0)

    def _build(
        self, app: KioskApp, journey: Journey, flow: FormFlow, questions: list[Question]
    ) -> None:
        box = self.ids.questions
        box.clear_widgets()
        self._choices = {}
        self._errors = {}
        page = flow.page
        for text in (page.title, page.intro):
            if text is not None:
                box.add_widget(make("KLabel", text=flow.text(text), fixed_language=flow.language))
        for question in questions:
            box.add_widget(
                make(
                    "KLabel",
                    text=flow.text(question.prompt),
                    fixed_language=flow.language,
                    bold_text=True,
                )
            )
            if question.help is not None:
                box.add_widget(
                    make(
                        "KLabel",
                        text=flow.text(question.help),
                        fixed_language=flow.language,
                        color_role="text_muted",
                    )
                )
            if question.type in TYPED:
                box.add_widget(self._input(app, journey, flow, question))
            else:
                for button in self._choice_buttons(app, journey, flow, question):
                    box.add_widget(button)
            error = make("KLabel", color_role="urgent", bold_text=True)
            self._errors[question.id] = error
            box.add_widget(error)

    def _choice_buttons(
        self, app: KioskApp, journey: Journey, flow: FormFlow, question: Question
    ) -> list[Any]:
        if question.type == "yes_no":
            choices: list[tuple[Any, str, str]] = [
                (True, app.t(YES), app.language),
                (False, app.t(NO), app.language),
            ]
        else:
            choices = [(o.value, flow.text(o.label), flow.language) for o in question.options]
        buttons = []
        for value, label, language in choices:
            tag = f"answer-{question.id}-{str(value).lower()}"
            button = make("ChoiceButton", label=label, own_language=language, tag=tag)
            button.answer = value
            button.bind(
                on_release=lambda b, q=question.id: app.spawn(journey.choose_answer(q, b.answer))
            )
            buttons.append(button)
        self._choices[question.id] = buttons
        return buttons

    def _input(self, app: KioskApp, journey: Journey, flow: FormFlow, question: Question) -> Any:
        field = make("FormInput", tag=f"input-{question.id}", question=question.id)
        field.text = flow.drafts.get(question.id, _shown_answer(flow.answers.get(question.id)))
        if question.type == "number":
            field.input_filter = "float"
            field.hint_text = question.unit or ""
        elif question.type == "date":
            field.hint_text = app.t("Day Month Year")
        field.bind(text=lambda w, text: journey.type_answer(w.question, text))
        return field

    def _mark(self, app: KioskApp, flow: FormFlow, question: Question) -> None:
        answer = flow.answers.get(question.id)
        for button in self._choices.get(question.id, []):
            chosen = answer is not None and (
                button.answer in answer if isinstance(answer, list) else button.answer == answer
            )
            button.selected = chosen
        error = self._errors.get(question.id)
        if error is not None:
            problem = flow.problem(question)
            error.text = "" if problem is None else app.t(problem[0]).format(**problem[1])


def _shown_answer(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":  # an ISO date
        year, month, day = value.split("-")
        return f"{day} {month} {year}"
    return str(value)


class SignpostScreen(KioskScreen):
    def refresh(self, app: KioskApp, journey: Journey) -> None:
        flow = journey.form_flow
        name = flow.signpost if flow is not None else None
        signpost = SIGNPOSTS.get(name or "reception", SIGNPOSTS["reception"])
        self.ids.title.text = app.t(signpost.title)
        self.ids.symbol.source = (
            f"{app.assets}/symbols/{'urgent' if signpost.urgent else 'info'}.png"
        )
        box = self.ids.lines
        texts = [app.t(line) for line in signpost.lines]
        if [w.text for w in reversed(box.children)] != texts:
            box.clear_widgets()
            for text in texts:
                box.add_widget(make("KLabel", text=text, base_sp=30))
        self.ids.told.text = app.t(STAFF_TOLD) if flow is not None and flow.alerted else ""
        stopped = flow is None or flow.state in (FormState.STOPPED, FormState.SENT)
        _show(self.ids.carry_on, not stopped)


class FormDoneScreen(KioskScreen):
    def refresh(self, app: KioskApp, journey: Journey) -> None:
        flow = journey.form_flow
        self.ids.message.text = app.t(journey.form_message) if journey.form_message else ""
        score = ""
        if flow is not None and flow.form.show_score:
            for entry in flow.form.scores:
                band = None if entry.id not in flow.scores else entry.band(flow.scores[entry.id])
                if band is not None:
                    score = flow.text(band.label)
        self.ids.score.text = score
        self.ids.score.fixed_language = flow.language if flow is not None else ""


class InfoScreen(ChoiceListScreen):
    box_id, tag_prefix = "pages", "page"

    def entries(self, journey: Journey) -> list[tuple[str, Text, Text | None]]:
        return [(p.id, p.title, p.summary) for p in journey.content.pages]

    def choose(self, journey: Journey, entry: str) -> None:
        journey.open_page(entry)


class PageScreen(KioskScreen):
    _shown: object = None

    def refresh(self, app: KioskApp, journey: Journey) -> None:
        page = journey.info_page
        if page is None:
            return
        shown = content_language(page.title, app.language)
        key = (page.id, shown, journey.generation)
        _show(self.ids.listen, app.page_audio(page) is not None)
        _show(self.ids.print, app.can_print and bool(page.url))
        if key == self._shown:
            return
        self._shown = key
        self.ids.title.text = page.title.get(shown)
        self.ids.title.fixed_language = shown
        self.ids.only_english.text = "" if shown == app.language else app.t(ONLY_ENGLISH)
        box = self.ids.body
        box.clear_widgets()
        for paragraph in page.body:
            box.add_widget(make("KLabel", text=paragraph.get(shown), fixed_language=shown))
        if page.source:
            box.add_widget(
                make(
                    "KLabel", text=page.source, fixed_language="en", silent=True,
                    color_role="text_muted", base_sp=16,
                )
            )  # fmt: skip
        folder = journey.content_folder
        self.ids.picture.source = str(folder / page.picture) if page.picture and folder else ""
        self.ids.picture.opacity = 1 if self.ids.picture.source else 0
        self.ids.qr.texture = qr_texture(page.url) if page.url else None
        self.ids.qr.opacity = 1 if page.url else 0
        self.ids.qr_caption.text = (
            app.t("Scan this code with your phone to read more.") if page.url else ""
        )
        if page.url:
            journey.tally.qr_shown += 1


def qr_texture(url: str) -> Any:
    """A QR code of ``url`` as a Kivy texture, made in memory (it is public information)."""
    import segno

    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8, border=2)
    buffer.seek(0)
    return CoreImage(buffer, ext="png").texture


class ServicesScreen(KioskScreen):
    _shown: object = None
    _pinned: list[Any]

    def refresh(self, app: KioskApp, journey: Journey) -> None:
        directory = journey.content.directory
        if directory is None:
            return
        showing = journey.show_map and directory.map_picture is not None
        key = (journey.category, app.language, journey.generation, journey.service_query, showing)
        if key != self._shown:
            self._shown = key
            self._categories(app, journey)
            self._list(app, journey)
            self._map(app, journey, showing)
        self.ids.map_toggle.message = AS_LIST if showing else AS_MAP
        _show(self.ids.map_toggle, directory.map_picture is not None)

    def _categories(self, app: KioskApp, journey: Journey) -> None:
        directory = journey.content.directory
        grid = self.ids.categories
        grid.clear_widgets()
        if directory is None:
            return
        everything = make("ChoiceButton", message=ALL, tag="category-all", min_height=dp72())
        everything.selected = journey.category is None
        everything.bind(on_release=lambda _b: journey.choose_category(None))
        grid.add_widget(everything)
        for category in directory.categories:
            shown = content_language(category.title, app.language)
            button = make(
                "ChoiceButton",
                label=category.title.get(shown),
                own_language=shown,
                tag=f"category-{category.id}",
                min_height=dp72(),
            )
            button.selected = journey.category == category.id
            button.category = category.id
            button.bind(on_release=lambda b: journey.choose_category(b.category))
            grid.add_widget(button)

    def _list(self, app: KioskApp, journey: Journey) -> None:
        box = self.ids.services
        box.clear_widgets()
        services = journey.services()
        if not services:
            box.add_widget(make("KLabel", text=app.t("Nothing found. Try another group.")))
        for number, service in enumerate(services, start=1):
            card = make("ServiceCard")
            for name in ("name", "description", "when", "where"):
                text = getattr(service, name)
                shown = content_language(text, app.language)
                card.ids[name].text = text.get(shown)
                card.ids[name].fixed_language = shown
            if service.x is not None:  # the number of its pin on the map
                card.ids.name.text = f"{number}. {card.ids.name.text}"
            card.ids.contact.text = "   ".join(filter(None, (service.phone, service.url)))
            box.add_widget(card)

    def _map(self, app: KioskApp, journey: Journey, showing: bool) -> None:
        """Map or list: the one shown takes the room, the other none (and no touches)."""
        view, listing = self.ids.map_view, self.ids.list_view
        for widget, shown in ((view, showing), (listing, not showing)):
            widget.size_hint_y = 1 if shown else None
            if not shown:
                widget.height = 0
            widget.opacity = 1 if shown else 0
            widget.disabled = not shown
        area, legend = self.ids.map_area, self.ids.legend
        for pin in getattr(self, "_pinned", []):
            area.remove_widget(pin)
        self._pinned = []
        legend.clear_widgets()
        folder, directory = journey.content_folder, journey.content.directory
        if not showing or folder is None or directory is None or not directory.map_picture:
            return
        self.ids.map.source = str(folder / directory.map_picture)
        for number, service in enumerate(journey.services(), start=1):
            if service.x is None or service.y is None:
                continue
            pin = make("MapPin", text=str(number))
            pin.place = (service.x, service.y)
            area.add_widget(pin)
            self._pinned.append(pin)
            named = content_language(service.name, app.language)
            legend.add_widget(
                make("KLabel", text=f"{number}. {service.name.get(named)}", fixed_language=named)
            )
        self.ids.map.unbind(size=self._place_pins, pos=self._place_pins)
        self.ids.map.bind(size=self._place_pins, pos=self._place_pins)
        Clock.schedule_once(lambda _dt: self._place_pins(), 0)

    def _place_pins(self, *_args: Any) -> None:
        """Pins at their services' places on the picture as drawn (fit: contain)."""
        image = self.ids.map
        width, height = image.norm_image_size
        left = image.center_x - width / 2
        top = image.center_y + height / 2
        for pin in self._pinned:
            x, y = pin.place
            pin.center = (left + x * width, top - y * height)


def dp72() -> float:
    from kivy.metrics import dp

    return float(dp(72))


class SupportScreen(KioskScreen):
    _shown: object = None

    def refresh(self, app: KioskApp, journey: Journey) -> None:
        support = journey.content.support
        if support is None:
            return
        shown = content_language(support.intro, app.language)
        self.ids.intro.text = support.intro.get(shown)
        self.ids.intro.fixed_language = shown
        _show(self.ids.request, support.request_form in journey.content.forms)
        key = (app.language, journey.generation)
        if key == self._shown:
            return
        self._shown = key
        box = self.ids.sessions
        box.clear_widgets()
        for start, end, session in support.upcoming(datetime.now()):
            card = make("ServiceCard")
            title = content_language(session.title, app.language)
            card.ids.name.text = session.title.get(title)
            card.ids.name.fixed_language = title
            card.ids.description.text = app.t(DROP_IN if session.kind == "drop_in" else BOOK)
            card.ids.when.text = app.t("{day} {date}, {start} to {end}").format(
                day=app.t(DAY_NAMES[start.weekday()]),
                date=start.strftime("%d/%m"),
                start=start.strftime("%H:%M"),
                end=end.strftime("%H:%M"),
            )
            where = content_language(session.where, app.language)
            card.ids.where.text = session.where.get(where)
            card.ids.where.fixed_language = where
            box.add_widget(card)
