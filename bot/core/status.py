"""/status: a witness returns with their receipt code, reads the report's status and any
question the reviewers left, and may add information or files to the same report.

Like the reporting conversation, this is plain Python: events in, effects out. Looking the code
up and sealing the additions are the adapter's job (effects LookUpCode and SendAdditions).
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.core.conversation import Translations
from bot.core.draft import Action, MediaRef
from bot.core.events import (
    Cancel,
    Event,
    LocationInput,
    MediaInput,
    Press,
    Reply,
    TextInput,
)
from bot.core.fidelity import fidelity_notice, recompressed
from bot.core.keyboard import PressProblem, render, resolve
from bot.core.numerals import ascii_digits
from crypto.receipts import normalise_receipt_code

MAX_ATTEMPTS = 5
MAX_ADDITION_FILES = 20
MAX_ADDITION_TEXT = 3500


class StatusPhase(enum.StrEnum):
    AWAITING_CODE = "awaiting_code"
    LOOKING_UP = "looking_up"
    SHOWING = "showing"
    ADDING = "adding"
    SENDING = "sending"


@dataclass
class StatusSession:
    language: str
    phase: StatusPhase = StatusPhase.AWAITING_CODE
    report_id: str | None = None
    # Kept only while the session lasts (sealed in the chat state with the draft key): it
    # derives the key to the reviewers' messages.
    code: str | None = None
    texts: list[str] = field(default_factory=list)
    files: list[MediaRef] = field(default_factory=list)
    attempts: int = 0
    prompt_nonce: str = ""
    prompt_actions: tuple[Action, ...] = ()
    # Told once in this session that photos and videos sent as such are recompressed.
    fidelity_notice_shown: bool = False


@dataclass(frozen=True)
class StatusView:
    status: str
    messages: tuple[str, ...]


@dataclass(frozen=True)
class StatusRequested:
    """/status, possibly followed by the code on the same line."""

    code_text: str = ""


@dataclass(frozen=True)
class LookUpCode:
    code: str


@dataclass(frozen=True)
class SendAdditions:
    pass


@dataclass(frozen=True)
class DeleteIncoming:
    """Delete the witness's last message (it held the receipt code)."""


@dataclass(frozen=True)
class SessionClosed:
    pass


@dataclass(frozen=True)
class DeleteReport:
    """The witness confirmed: crypto-shred the whole report (if the organisation allows it)."""


StatusEffect = Reply | LookUpCode | SendAdditions | DeleteIncoming | SessionClosed | DeleteReport


class StatusConversation:
    def __init__(
        self,
        translations: Translations,
        *,
        new_token: Callable[[], str] = lambda: secrets.token_hex(4),
        allow_delete: bool = False,
        max_file_bytes: int = 20 * 1024 * 1024,
    ) -> None:
        self._max_file_bytes = max_file_bytes
        self._translations = translations
        self._new_token = new_token
        self._allow_delete = allow_delete

    def begin(self, language: str, code_text: str) -> tuple[StatusSession, list[StatusEffect]]:
        session = StatusSession(language=language)
        if code_text.strip():
            return session, [DeleteIncoming(), *self._code(session, code_text)]
        _ = self._gettext(session)
        return session, [
            Reply(
                _(
                    "Please type your receipt code (20 digits). The message with "
                    "the code will be deleted from this chat."
                )
            )
        ]

    def handle(
        self, session: StatusSession, event: Event
    ) -> tuple[StatusSession | None, list[StatusEffect]]:
        _ = self._gettext(session)
        if isinstance(event, Cancel):
            return None, [Reply(_("Closed. Nothing was added.")), SessionClosed()]
        if session.phase is StatusPhase.AWAITING_CODE and isinstance(event, TextInput):
            return session, [DeleteIncoming(), *self._code(session, event.text)]
        if session.phase in (StatusPhase.LOOKING_UP, StatusPhase.SENDING):
            return session, [Reply(_("One moment, please."))]
        if isinstance(event, Press):
            return self._press(session, event.token)
        if session.phase is StatusPhase.ADDING:
            return session, self._add(session, event)
        if session.phase is StatusPhase.AWAITING_CODE:
            return session, [Reply(_("Please type your receipt code, or /cancel."))]
        return session, [self._menu(session, _("Please use the buttons below."))]

    def found(self, session: StatusSession, report_id: str, view: StatusView) -> list[StatusEffect]:
        _ = self._gettext(session)
        session.report_id = report_id
        session.phase = StatusPhase.SHOWING
        statuses = {
            "new": _("received; not reviewed yet"),
            "triaged": _("being reviewed"),
            "in_progress": _("being reviewed"),
            "needs_info": _("the reviewers have a question for you"),
            "closed": _("closed"),
            "rejected": _("closed"),
        }
        lines = [
            _("Report status: {status}.").format(
                status=statuses.get(view.status, _("being reviewed"))
            )
        ]
        for message in view.messages:
            lines += ["", _("Message from the reviewers:"), message]
        if not view.messages:
            lines += ["", _("There is no message for you.")]
        return [self._menu(session, "\n".join(lines))]

    def not_found(self, session: StatusSession) -> tuple[StatusSession | None, list[StatusEffect]]:
        _ = self._gettext(session)
        session.phase = StatusPhase.AWAITING_CODE
        session.code = None
        if session.attempts >= MAX_ATTEMPTS:
            return None, [
                Reply(
                    _(
                        "No report matches this code. That was the last try for now; "
                        "please check the code and come back later."
                    )
                ),
                SessionClosed(),
            ]
        return session, [
            Reply(_("No report matches this code. Please check it and type it again, or /cancel."))
        ]

    def sent(self, session: StatusSession) -> list[StatusEffect]:
        _ = self._gettext(session)
        return [Reply(_("Thank you. It was added to your report.")), SessionClosed()]

    def deleted(self, session: StatusSession) -> list[StatusEffect]:
        _ = self._gettext(session)
        return [Reply(_("Deleted.")), SessionClosed()]

    def send_failed(self, session: StatusSession) -> list[StatusEffect]:
        _ = self._gettext(session)
        session.phase = StatusPhase.ADDING
        return [
            self._adding(
                session,
                _(
                    "Sorry, it could not be added right now. Nothing is "
                    "lost: press Send to try again."
                ),
            )
        ]

    # -- internals ---------------------------------------------------------------------------

    def _code(self, session: StatusSession, text: str) -> list[StatusEffect]:
        _ = self._gettext(session)
        # Typed in the witness's own digits (٠١٢٣, ۰۱۲۳, ०१२३...) it is the same code.
        code = normalise_receipt_code(ascii_digits(text))
        if code is None:
            return [
                Reply(
                    _(
                        "That is not a receipt code. A code has 20 digits, like "
                        "1234-5678-9012-3456-7890. Please type it again, or /cancel."
                    )
                )
            ]
        session.attempts += 1
        session.code = code
        session.phase = StatusPhase.LOOKING_UP
        return [LookUpCode(code)]

    def _press(
        self, session: StatusSession, token: str
    ) -> tuple[StatusSession | None, list[StatusEffect]]:
        _ = self._gettext(session)
        if session.report_id is None:
            # No report has been found yet: any button is from an earlier session.
            return session, [Reply(_("Please type your receipt code, or /cancel."))]
        action = resolve(token, session.prompt_nonce, session.prompt_actions)
        if isinstance(action, PressProblem):
            return session, [self._menu(session, _("That button is no longer active."))]
        if action.kind == "close":
            return None, [Reply(_("Closed.")), SessionClosed()]
        if action.kind == "add":
            session.phase = StatusPhase.ADDING
            return session, [
                self._adding(
                    session,
                    _(
                        "Send what you want to add: text, photos, videos or documents. "
                        "Press Send when you have finished."
                    ),
                )
            ]
        if action.kind == "menu":
            return session, [self._menu(session, _("Nothing was deleted."))]
        if action.kind == "delete" and self._allow_delete:
            return session, [self._reply(session, _(
                "This deletes the report and everything you added, for everyone and for good. "
                "Delete it?"), [[(_("Yes, delete it"), Action("delete_confirmed"))],
                                [(_("No, keep it"), Action("menu"))]])]
        if action.kind == "delete_confirmed" and self._allow_delete:
            session.phase = StatusPhase.SENDING
            return session, [DeleteReport()]
        if action.kind == "send":
            if not session.texts and not session.files:
                return session, [self._adding(session, _("Nothing to send yet."))]
            session.phase = StatusPhase.SENDING
            # No "Sending…": it would reach the witness only with the answer, both committed
            # with the additions, one more message and nothing more said.
            return session, [SendAdditions()]
        return session, [self._menu(session, _("Please use the buttons below."))]

    def _add(self, session: StatusSession, event: Event) -> list[StatusEffect]:
        _ = self._gettext(session)
        if isinstance(event, TextInput) and event.text.strip():
            if len(event.text) > MAX_ADDITION_TEXT:
                return [
                    self._adding(
                        session,
                        _(
                            "That is {length} characters; the limit is {limit}. Please shorten it."
                        ).format(length=len(event.text), limit=MAX_ADDITION_TEXT),
                    )
                ]
            session.texts.append(event.text.strip())
        elif isinstance(event, MediaInput):
            fitting = [m for m in event.files if (m.size or 0) <= self._max_file_bytes]
            room = MAX_ADDITION_FILES - len(session.files)
            session.files.extend(fitting[:room])
            if len(fitting) < len(event.files) or len(fitting) > room:
                return [self._adding(session, _(
                    "Some files were not added: each file can be up to {limit} MB, and {count} "
                    "files can be added at a time. Everything else is kept; press Send when you "
                    "have finished.").format(limit=self._max_file_bytes // 2**20,
                                             count=MAX_ADDITION_FILES))]
        elif isinstance(event, LocationInput):
            session.texts.append(f"location {event.latitude:.5f}, {event.longitude:.5f}")
        else:
            return [self._adding(session, _("Sorry, I cannot use that kind of message here."))]
        count = len(session.texts) + len(session.files)
        text = _("Added {count} item(s). Send more, or press Send.").format(count=count)
        if recompressed(session.files) and not session.fidelity_notice_shown:
            session.fidelity_notice_shown = True
            text += "\n\n" + fidelity_notice(_)
        return [self._adding(session, text)]

    def _menu(self, session: StatusSession, text: str) -> Reply:
        _ = self._gettext(session)
        rows = [[(_("Add information or files"), Action("add"))]]
        if self._allow_delete:
            rows.append([(_("Delete this report"), Action("delete"))])
        rows.append([(_("Close"), Action("close"))])
        return self._reply(session, text, rows)

    def _adding(self, session: StatusSession, text: str) -> Reply:
        _ = self._gettext(session)
        return self._reply(
            session, text, [[(_("Send"), Action("send"))], [(_("Close"), Action("close"))]]
        )

    def _reply(
        self, session: StatusSession, text: str, rows: list[list[tuple[str, Action]]]
    ) -> Reply:
        session.prompt_nonce = self._new_token()
        buttons, session.prompt_actions = render(rows, session.prompt_nonce)
        return Reply(text, buttons)

    def _gettext(self, session: StatusSession) -> Callable[[str], str]:
        return self._translations(session.language).gettext
