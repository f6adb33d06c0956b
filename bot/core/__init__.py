"""The pure conversation core: questionnaire, draft, engine. Imports nothing from Telegram,
storage or the network, so every behaviour is testable as plain Python."""

from bot.core.conversation import Conversation
from bot.core.document import AttachmentFacts, report_document
from bot.core.draft import Draft, MediaAnswer, MediaRef, Phase
from bot.core.events import (
    Button,
    Cancel,
    ChooseLanguage,
    ClearChat,
    DraftClosed,
    Effect,
    Event,
    Forget,
    LocationInput,
    MediaInput,
    Press,
    Reply,
    Start,
    SubmitRequested,
    TextInput,
    Unsupported,
)
from bot.core.questionnaire import (
    DEFAULT_QUESTIONNAIRE,
    Questionnaire,
    QuestionnaireError,
    QuestionType,
    load_questionnaire,
)

__all__ = [
    "DEFAULT_QUESTIONNAIRE",
    "AttachmentFacts",
    "Button",
    "Cancel",
    "ChooseLanguage",
    "ClearChat",
    "Conversation",
    "Draft",
    "DraftClosed",
    "Effect",
    "Event",
    "Forget",
    "LocationInput",
    "MediaAnswer",
    "MediaInput",
    "MediaRef",
    "Phase",
    "Press",
    "QuestionType",
    "Questionnaire",
    "QuestionnaireError",
    "Reply",
    "Start",
    "SubmitRequested",
    "TextInput",
    "Unsupported",
    "load_questionnaire",
    "report_document",
]
