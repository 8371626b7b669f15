"""The parts of a visit that pushed content makes: forms, health information, services, support.

A mixin of :class:`~healthhub.ui.viewmodels.journey.Journey` (which owns the screen, the
session and the patient): kept apart so that each file stays about one thing. What it
shows comes from the content the agent serves (:func:`load_patient_content`), taken like
settings: at once on the attract screen, otherwise when the patient is forgotten, so a push
never changes a form under someone's finger.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healthhub.protocol import local_api as api
from healthhub.protocol.forms import Form
from healthhub.protocol.patient_content import (
    InfoPage,
    PatientContent,
    Service,
    load_patient_content,
)
from healthhub.ui.i18n import N_
from healthhub.ui.viewmodels.form_flow import FormFlow, FormState
from healthhub.ui.viewmodels.observable import AgentPort
from healthhub.ui.viewmodels.screen import Screen
from healthhub.ui.viewmodels.usage_tally import UsageTally

log = logging.getLogger(__name__)

#: The tiles that open pushed content, and the form purpose each one opens (if a form).
CONTENT_TILES = {
    "questionnaires": "questionnaire",
    "my_details": "change_of_details",
    "consultation": "consultation_request",
    "information": None,
    "services": None,
    "support": None,
}
NEEDS_DETAILS = N_("To send this form we need your NHS number and date of birth.")
FORM_SENT = N_("Thank you. Your answers have been sent to your GP practice.")
FORM_NOT_SENT = N_("Your answers could not be sent. Please ask at reception.")
FORM_STOPPED = N_("Your answers have not been sent. Please follow the advice on the screen.")


def empty_content() -> PatientContent:
    return load_patient_content(None)


class ContentVisits:
    """Forms, information pages, services and support for :class:`Journey`."""

    # Owned by Journey (declared here for the type checker).
    screen: Screen
    session: str | None
    patient: dict[str, str] | None
    language: str
    notice: str
    tally: UsageTally
    after_identify: Screen | None
    generation: int
    agent: AgentPort

    def _init_content(self) -> None:
        self.content: PatientContent = empty_content()
        #: The folder the agent serves content from (pictures and audio are read from it).
        self.content_folder: Path | None = None
        self._content_waiting: tuple[PatientContent, Path | None] | None = None
        self.content_problems: list[str] = []

    def _clear_content_visit(self) -> None:
        self.form_flow: FormFlow | None = None
        self.form_message = ""
        self.info_page: InfoPage | None = None
        self.category: str | None = None
        self.service_query = ""
        self.show_map = False

    # -- content, as the agent serves it ---------------------------------------------------

    def load_content(self, folder: str | None) -> None:
        """Read the content the agent serves; taken now or once the patient is forgotten."""
        path = Path(folder) if folder else None
        content = load_patient_content(path)
        if self._idle_now():
            self._take_content(content, path)
            self.changed()
        else:
            self._content_waiting = (content, path)

    def _take_content(self, content: PatientContent, folder: Path | None) -> None:
        self.content = content
        self.content_folder = folder
        self.content_problems = list(content.problems)
        self.generation += 1  # screens rebuild their lists

    def _take_waiting_content(self) -> None:
        if self._content_waiting is not None:
            (content, folder), self._content_waiting = self._content_waiting, None
            self._take_content(content, folder)

    def offers(self, tile: str) -> bool:
        """Whether this unit has the content a content tile needs."""
        purpose = CONTENT_TILES.get(tile)
        if purpose is not None:
            return any(form.purpose == purpose for form in self.content.forms.values())
        if tile == "information":
            return bool(self.content.pages)
        if tile == "services":
            return self.content.directory is not None and bool(self.content.directory.services)
        if tile == "support":
            return self.content.support is not None
        return False

    def forms_for(self, purpose: str) -> list[Form]:
        return sorted(
            (f for f in self.content.forms.values() if f.purpose == purpose),
            key=lambda f: f.title.get("en"),
        )

    def open_content_tile(self, tile: str) -> None:
        self.tally.tile(tile)
        purpose = CONTENT_TILES.get(tile)
        if purpose == "questionnaire":
            self.screen = Screen.FORMS
        elif purpose is not None:
            forms = self.forms_for(purpose)
            if forms:
                self.open_form(forms[0].id)
                return
        elif tile == "information":
            self.screen = Screen.INFO
        elif tile == "services":
            self.screen = Screen.SERVICES
        elif tile == "support":
            self.tally.support_viewed = True
            self.screen = Screen.SUPPORT
        self.touch()

    # -- forms -----------------------------------------------------------------------------

    def open_form(self, form_id: str) -> None:
        form = self.content.forms.get(form_id)
        if form is None:
            return
        self.form_flow = FormFlow(form, self.language, today=self._today())
        self.form_message = ""
        self.tally.form(form.id, "started")
        if form.purpose == "support_request":
            self.tally.support_requested = True
        if form.identity == "required" and self.patient is None:
            self.after_identify = Screen.FORM
            self.screen = Screen.IDENTIFY
        else:
            self.screen = Screen.FORM
        self.touch()

    def form_needs_details_skipped(self) -> bool:
        """The patient skipped giving details for a form that needs them: it cannot go on."""
        flow = self.form_flow
        if flow is None or flow.form.identity != "required" or self.patient is not None:
            return False
        self.tally.form(flow.form.id, "abandoned", flow.page.id)
        self.form_flow = None
        self.notice = NEEDS_DETAILS
        self.screen = Screen.HOME
        return True

    async def choose_answer(self, question_id: str, value: Any) -> None:
        flow = self.form_flow
        if flow is None:
            return
        await self._act(flow.choose(question_id, value))
        self.touch()

    def type_answer(self, question_id: str, text: str) -> None:
        if self.form_flow is not None:
            self.form_flow.type_text(question_id, text)
            self.touch()

    async def next_form_page(self) -> None:
        flow = self.form_flow
        if flow is None:
            return
        last = flow.on_last_page
        due = flow.next_page()
        await self._act(due)
        if flow.state == FormState.FILLING and last and not flow.errors:
            await self._submit_form(flow)
        self.touch()

    def previous_form_page(self) -> None:
        flow = self.form_flow
        if flow is None:
            return
        if flow.page_index == 0:
            self.leave_form()
            return
        flow.previous_page()
        self.touch()

    def leave_form(self) -> None:
        """The patient goes back to the menu without sending the form."""
        flow = self.form_flow
        if flow is not None and flow.state not in (FormState.SENT, FormState.STOPPED):
            self.tally.form(flow.form.id, "abandoned", flow.page.id)
        self.form_flow = None
        self.screen = Screen.HOME
        self.touch()

    def carry_on_form(self) -> None:
        """From a signpost back to the form (only when the action did not stop it)."""
        flow = self.form_flow
        if flow is None:
            return
        flow.carry_on()
        self.screen = Screen.FORM
        self.touch()

    async def _act(self, due: list[Any]) -> None:
        """Carry out actions that just became due: alert staff, show the signpost, stop."""
        flow = self.form_flow
        if flow is None or not due:
            return
        for action in due:
            if action.alert is not None:
                flow.alerted = await self._raise_form_alert(flow.form, action.id) or flow.alerted
        if flow.state == FormState.STOPPED:
            self.tally.form(flow.form.id, "stopped", flow.page.id)
            self.form_message = FORM_STOPPED
        if flow.signpost is not None and flow.state in (FormState.SIGNPOST, FormState.STOPPED):
            self.screen = Screen.SIGNPOST

    async def _raise_form_alert(self, form: Form, action: str) -> bool:
        if self.session is None:
            return False
        try:
            await self.agent.call(
                "alert.raise",
                session=self.session,
                reason="form_action",
                form=form.id,
                action=action,
            )
        except Exception:  # LocalApiError or AgentUnavailable: the signpost says go to reception
            log.warning("a form's staff alert could not be raised")
            return False
        return True

    async def _submit_form(self, flow: FormFlow) -> None:
        if self.session is None:
            return
        args: dict[str, Any] = {"session": self.session, **flow.submission()}
        if self.patient is not None and flow.form.identity != "none":
            args["patient"] = self.patient
        try:
            result = await self.agent.call("form.submit", **args)
        except api.LocalApiError as exc:
            log.warning("form not accepted by the agent: %s", exc.code)
            self.form_message = FORM_NOT_SENT
        except Exception:
            self.form_message = FORM_NOT_SENT
        else:
            flow.state = FormState.SENT
            flow.scores = dict(result.get("scores", {}))
            flow.bands = dict(result.get("bands", {}))
            self.form_message = FORM_SENT
            self.tally.form(flow.form.id, "completed")
            end_actions = flow.form.actions_due(flow.answers, at="end")
            signpost = next((a.signpost for a in end_actions if a.signpost), None)
            if signpost is not None:
                flow.signpost = signpost
                self.screen = Screen.SIGNPOST
                return
        self.screen = Screen.FORM_DONE

    # -- information, services, support ---------------------------------------------------

    def open_page(self, page_id: str) -> None:
        page = next((p for p in self.content.pages if p.id == page_id), None)
        if page is None:
            return
        self.info_page = page
        self.tally.page(page.id)
        self.screen = Screen.PAGE
        self.touch()

    def choose_category(self, category: str | None) -> None:
        self.category = category
        self.show_map = False
        if category is not None:
            self.tally.category(category)
            self.tally.searches += 1
        self.touch()

    def toggle_map(self) -> None:
        self.show_map = not self.show_map
        self.touch()

    def services(self) -> list[Service]:
        directory = self.content.directory
        if directory is None:
            return []
        return directory.search(category=self.category, query=self.service_query)

    def open_support_request(self) -> None:
        support = self.content.support
        if support is not None and support.request_form is not None:
            self.open_form(support.request_form)

    def back_to_menu(self) -> None:
        self.info_page = None
        self.screen = Screen.HOME
        self.touch()

    # -- owned by Journey ------------------------------------------------------------------

    if TYPE_CHECKING:

        def touch(self) -> None: ...

        def changed(self) -> None: ...

        def _idle_now(self) -> bool: ...

        def _today(self) -> date: ...
