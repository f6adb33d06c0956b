"""The questionnaire, and its labels in the reviewer's language (no Telegram imports)."""

from __future__ import annotations

from bot.core import DEFAULT_QUESTIONNAIRE, Questionnaire, QuestionnaireError, load_questionnaire
from bot.i18n import LANGUAGE_NAMES
from cli.config import ConfigError, Settings
from review.answers import Labels


def questionnaire_for(settings: Settings) -> Questionnaire:
    try:
        return load_questionnaire(settings.questionnaire or DEFAULT_QUESTIONNAIRE)
    except FileNotFoundError:
        raise ConfigError(
            f"INTAKE_QUESTIONNAIRE: {settings.questionnaire} does not exist: fix the path"
        ) from None
    except QuestionnaireError as error:
        raise ConfigError(str(error)) from None


def reviewer_labels(questionnaire: Questionnaire, language: str) -> Labels:
    """The questionnaire's question and choice texts in the reviewer's language.

    A text the questionnaire lacks in that language falls back to its default language, as the
    bot does for witnesses.
    """
    return Labels(
        language=language,
        questions={q.id: q.label.get(language) for q in questionnaire.questions},
        choices={
            (q.id, c.id): c.text.get(language) for q in questionnaire.questions for c in q.choices
        },
        language_names=LANGUAGE_NAMES,
    )


def labels_for(settings: Settings) -> Labels:
    """INTAKE_REVIEWER_LANGUAGE's labels from INTAKE_QUESTIONNAIRE (CLI, console and export)."""
    return reviewer_labels(questionnaire_for(settings), settings.reviewer_language)
