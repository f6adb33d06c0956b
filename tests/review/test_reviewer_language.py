"""Reviewers read every report in their own language, whatever language the witness used.

Question and choice labels come from the questionnaire's own translations, in the language set
by INTAKE_REVIEWER_LANGUAGE (English unless set); the witness's language is shown beside them;
choice codes are never shown. `review show`, the console and `review export` say the same.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
from click.testing import CliRunner

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE, load_questionnaire
from bot.core.draft import ChoiceAnswer, MultiChoiceAnswer, Skipped
from cli.labels import reviewer_labels
from cli.main import main
from crypto.custody import custody_public_key
from review.audit import AuditTrail
from review.console import Console
from review.local import LocalBackend
from review.recipients import add_reviewer
from storage import Storage
from storage.server_keys import load_or_create_server_keys
from tests.review.test_console import submit_report

QUESTIONNAIRE = load_questionnaire(DEFAULT_QUESTIONNAIRE)
SPANISH = {
    "category": ChoiceAnswer("violence"),
    "affected": MultiChoiceAnswer(("others", "community")),
    "safe_now": ChoiceAnswer("unsure"),
    "taken_to": Skipped(),
}
# Codes that are not also words of an English label: shown alone, they would be raw codes.
CODES = re.compile(r"\b(violence|others|unsure|safe_now|taken_to|category)\b")


def expected(language: str) -> list[str]:
    """What a reviewer reading in `language` sees, straight from the questionnaire's texts."""
    def label(question: str) -> str:
        return QUESTIONNAIRE.question(question).label.get(language)

    def choice(question: str, choice_id: str) -> str:
        found = QUESTIONNAIRE.question(question).choice(choice_id)
        assert found is not None
        return found.text.get(language)

    return [
        f"{label('category')}: {choice('category', 'violence')}",
        f"{label('affected')}: {choice('affected', 'others')}, {choice('affected', 'community')}",
        f"{label('safe_now')}: {choice('safe_now', 'unsure')}",
        f"{label('what')}: el coche azul",
    ]


async def test_a_spanish_report_reads_in_the_reviewers_language(
    storage: Storage, tmp_path: Path
) -> None:
    """CLI, console and export show one language's labels, no codes, and the witness's language."""
    data = tmp_path / "data"
    keys = load_or_create_server_keys(data)
    alice = crypto.generate_identity()
    await add_reviewer(storage, "alice", str(alice.recipient))
    key = tmp_path / "alice.txt"
    key.write_text(f"{alice}\n")
    receipt = await submit_report(storage, keys, "el coche azul", language="es", answers=SPANISH)
    report_id = receipt.report_id
    env = {"INTAKE_DATA_DIR": str(data), "INTAKE_DATABASE_URL": str(storage.engine.url
           .render_as_string(hide_password=False)), "INTAKE_REVIEWER_LANGUAGE": None}

    def intake(*args: str, **extra: str) -> str:
        result = CliRunner().invoke(main, list(args), env={**env, **extra})
        assert result.exit_code == 0, result.output
        return result.output

    english = await asyncio.to_thread(intake, "review", "show", report_id, "--identity", str(key))
    for line in expected("en"):
        assert line in english.splitlines(), (line, english)
    assert "Witness's language: Español (es)" in english
    assert not CODES.search(english), english
    for spanish in ("Tipo", "Violencia", "Otras personas", "A quiénes afectó"):
        assert spanish not in english
    french = await asyncio.to_thread(intake, "review", "show", report_id[:6], "--identity",
                                     str(key), INTAKE_REVIEWER_LANGUAGE="fr")
    for line in expected("fr"):
        assert line in french.splitlines(), (line, french)

    await asyncio.to_thread(intake, "review", "export", report_id, "--out",
                            str(tmp_path / "bundle"), "--identity", str(key),
                            "--to", "counsel")
    exported = (tmp_path / "bundle" / "report.txt").read_text(encoding="utf-8")
    for line in expected("en"):
        assert line in exported.splitlines(), (line, exported)
    assert "report.txt" in (tmp_path / "bundle" / "SHA256SUMS").read_text()

    backend = LocalBackend(storage, AuditTrail(storage.audit, keys.custody_key), "alice",
                           custody_key=keys.custody_key)
    console = Console(backend, [alice], custody_public=custody_public_key(keys.custody_key),
                      labels=reviewer_labels(QUESTIONNAIRE, "en"))
    async with console, aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as browser:
        async with browser.get(console.url) as response:
            queue = await response.text()
        async with browser.get(f"{console.session.origin}/reports/{report_id}") as response:
            page = await response.text()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    for line in expected("en"):
        label, value = line.split(": ", 1)
        assert f"{label} {value}" in text, (line, text)
    assert "Witness's language Español (es)" in text
    answers = text[text.index(" Answers "):text.index(" Attachments ")]
    assert not CODES.search(answers), answers
    assert "Violence against people" in queue and "Violencia" not in queue
