"""Typed and sent input at a question: text, dates, places, shared locations, files and notes.

Part of the conversation engine (`bot/core/conversation.py`). Every refusal keeps the draft as it
was and comes in one message with the question, so a hurried reader sees why it came back.
"""

from __future__ import annotations

from bot.core.draft import DateAnswer, Draft, MediaAnswer, Phase, PlaceAnswer, TextAnswer
from bot.core.events import Effect, Event, LocationInput, MediaInput, Reply, TextInput, Unsupported
from bot.core.fidelity import fidelity_notice, recompressed
from bot.core.navigation import ConversationBase
from bot.core.numerals import parse_date, script_of
from bot.core.questionnaire import Question, QuestionType


class AnswerInput(ConversationBase):
    def _input(self, draft: Draft, event: Event) -> list[Effect]:
        _ = self._gettext(draft)
        question = self._current(draft)
        if draft.phase is not Phase.ASKING or question is None:
            return [self._prompt(draft, lead=_("Please use the buttons below."))]
        if isinstance(event, Unsupported):
            return [self._prompt(draft, lead=_("Sorry, I cannot use that kind of message here."))]
        kind = question.type
        if kind is QuestionType.TEXT and isinstance(event, TextInput):
            text = event.text.strip()
            if not text:
                return [self._prompt(draft, lead=_("The answer is empty. Please type a few "
                                                   "words."))]
            if len(text) > question.max_length:
                return [Reply(_("That is {length} characters; the limit here is {limit}. Please "
                                "shorten it, or split it and send the rest as a file.").format(
                                    length=len(text), limit=question.max_length))]
            return [self._answered(draft, question, TextAnswer(text))]
        if kind is QuestionType.DATE and isinstance(event, TextInput):
            parsed = self._parse_date(event.text, draft.language)
            if parsed is None:
                return [self._prompt(draft, lead=_(
                    "I could not read that date. Please type it like 2024-05-31 or 31.05.2024, "
                    "or use a button."))]
            if parsed.day is not None and parsed.day > self._today():
                return [self._prompt(draft, lead=_("That date is in the future. Please check "
                                                   "it."))]
            return [self._answered(draft, question, parsed)]
        if kind is QuestionType.PLACE and isinstance(event, TextInput):
            text = event.text.strip()
            if not text or len(text) > question.max_length:
                return [Reply(_("Please type the place in a few words (at most {limit} "
                                "characters).").format(limit=question.max_length))]
            return [self._answered(draft, question, PlaceAnswer(text=text))]
        if kind is QuestionType.PLACE and isinstance(event, LocationInput):
            draft.pending_location = (event.latitude, event.longitude)
            self._new_prompt(draft)
            return [self._prompt(draft)]
        if kind is QuestionType.MEDIA and isinstance(event, MediaInput):
            return self._add_media(draft, question, event)
        if kind is QuestionType.MEDIA and isinstance(event, TextInput) and event.text.strip():
            return self._add_note(draft, question, event.text.strip())
        return [self._prompt(draft, lead=self._expectation(draft, question))]

    def _add_media(self, draft: Draft, question: Question, event: MediaInput) -> list[Effect]:
        _ = self._gettext(draft)
        current = draft.answers.get(question.id)
        files = current.files if isinstance(current, MediaAnswer) else ()
        note = current.note if isinstance(current, MediaAnswer) else None
        refusals: list[str] = []
        for media in event.files:
            if media.size is not None and media.size > self.max_file_bytes:
                refusals.append(_(
                    "A file is {size} MB; the bot can receive files up to {limit} MB. Please "
                    "send a shorter or smaller version, or describe it in words. Everything "
                    "else you sent is kept."
                ).format(size=-(-media.size // 2**20), limit=self.max_file_bytes // 2**20))
            elif len(files) >= question.max_files:
                refusals.append(_("That is more files than one report can take ({limit}). "
                                  "Press Done to continue.").format(limit=question.max_files))
            elif sum(f.size or 0 for f in files) + (media.size or 0) > self.max_report_bytes:
                refusals.append(_("These files together are larger than one report can take "
                                  "({limit} MB). Press Done to continue.").format(
                                      limit=self.max_report_bytes // 2**20))
            else:
                files = (*files, media)
        if files:
            draft.answers[question.id] = MediaAnswer(files=files, note=note)
        # Same buttons as the question, without repeating its long text for every file.
        buttons = self._prompt(draft).buttons
        lines = list(dict.fromkeys(refusals))
        if len(refusals) < len(event.files):
            lines.append(self._catalog(draft).ngettext(
                "Received {count} file. Send more, or press Done.",
                "Received {count} files. Send more, or press Done.",
                len(files),
            ).format(count=len(files)))
            if recompressed(files) and not draft.fidelity_notice_shown:
                draft.fidelity_notice_shown = True
                lines.append(fidelity_notice(_))
        return [Reply("\n\n".join(lines), buttons)]

    def _add_note(self, draft: Draft, question: Question, text: str) -> list[Effect]:
        """Words typed at the files step are kept with the files: they are often what the
        witness most wants to say about them, and throwing them away loses evidence."""
        _ = self._gettext(draft)
        current = draft.answers.get(question.id)
        files = current.files if isinstance(current, MediaAnswer) else ()
        earlier = current.note if isinstance(current, MediaAnswer) else None
        note = f"{earlier}\n{text}" if earlier else text
        buttons = self._prompt(draft).buttons
        if len(note) > question.max_length:
            return [Reply(_("This note was not kept: notes here may have {limit} characters in "
                            "all. Please shorten it, or send it as a file. Everything you sent "
                            "before is kept.").format(limit=question.max_length), buttons)]
        draft.answers[question.id] = MediaAnswer(files=files, note=note)
        return [Reply(_("Your words are kept as a note with the files; you will see them in "
                        "the summary. Send files, or press Done."), buttons)]

    def _expectation(self, draft: Draft, question: Question) -> str:
        _ = self._gettext(draft)
        return {
            QuestionType.CONSENT: _("Please answer with one of the buttons below."),
            QuestionType.CHOICE: _("Please choose one of the buttons below."),
            QuestionType.MULTI: _("Please tick the answers with the buttons below, then Done."),
            QuestionType.TEXT: _("This question needs a typed answer."),
            QuestionType.DATE: _("Please type a date, or use a button."),
            QuestionType.PLACE: _("Please type a place, or share a location."),
            QuestionType.MEDIA: _("Please send a photo, video or document, or press Done."),
        }[question.type]

    def _parse_date(self, text: str, language: str) -> DateAnswer | None:
        typed = parse_date(text, language, self._today())
        if typed is None:
            return None
        return DateAnswer(typed.day, typed.time, digits=script_of(text),
                          calendar=typed.calendar)
