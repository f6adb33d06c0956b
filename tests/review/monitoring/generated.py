"""Many real sealed reports in all six languages, with the truth about each kept beside them.

Each report's answers document is written by the bot's own `report_document` from the shipped
questionnaire, sealed by the bot's own ItemSealer and stored with a signed custody manifest,
exactly as a finished conversation would leave it. What the generator chose for each report is
returned as plain `Truth`, so tests count the truth directly and compare with what monitoring
computes after decrypting. Expected normalised places and grid cells are written out by hand.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE, Questionnaire, load_questionnaire
from bot.core.document import AttachmentFacts, report_document
from bot.core.draft import (
    Answer,
    ChoiceAnswer,
    DateAnswer,
    MediaAnswer,
    MediaRef,
    MultiChoiceAnswer,
    PlaceAnswer,
    Skipped,
    TextAnswer,
)
from bot.sealing import ItemSealer
from crypto.custody import ManifestEntry, canonical_manifest, sign_manifest
from storage import ItemRole, NewItem, NewReport, Storage

LANGUAGES = ("en", "uk", "ru", "ar", "es", "fr")
CATEGORIES = ("detention", "violence", "property", "threats", "other")
AFFECTED = ("me", "known", "others", "children", "community")
STATUSES = ("new", "triaged", "in_progress", "needs_info", "closed", "rejected")
PRIORITIES = ("low", "normal", "high", "urgent")
LABELS = ("north", "urgent-medical", "verified")
FIRST_DAY = dt.date(2026, 7, 1)
# Typed places with the noise witnesses add, and the key each must count under.
TYPED_PLACES = {
    "name:kharkiv": ("Kharkiv", " kharkiv.", "KHARKIV", "Kharkív"),
    "name:київ": ("Київ", "київ ", "КИЇВ!"),
    "name:багдад": ("Багдад",),
    "name:بغداد": ("بغداد", "بَغْداد", " بغداد،"),
    "name:bogota": ("Bogotá", "bogota", "BOGOTÁ"),
    "name:saint denis": ("Saint-Denis", "saint denis", "Saint Denis."),
}
# Shared locations: points well inside one 0.1-degree cell each, and that cell's key.
CELLS = {
    "grid:50.4,30.5": (50.45, 30.55),
    "grid:49.9,36.2": (49.95, 36.25),
    "grid:-12.1,-77.1": (-12.05, -77.05),
}


@dataclass(frozen=True)
class Truth:
    report_id: str
    readable: bool  # sealed to the reviewer's key
    language: str
    received_day: dt.date
    status: str
    priority: str
    labels: tuple[str, ...]
    category: str | None  # None: skipped
    affected: tuple[str, ...]
    place_key: str | None
    place_text: str | None
    point: tuple[float, float] | None
    when: dt.date | None
    what: str
    attachment_sha256: tuple[str, ...]


def _draw(rng: random.Random, index: int) -> dict[str, object]:
    place_key: str | None
    point = None
    text = None
    kind = rng.random()
    if kind < 0.6:
        place_key = rng.choice(sorted(TYPED_PLACES))
        text = rng.choice(TYPED_PLACES[place_key])
    elif kind < 0.9:
        place_key = rng.choice(sorted(CELLS))
        south, west = CELLS[place_key]
        point = (south + rng.uniform(-0.04, 0.04), west + rng.uniform(-0.04, 0.04))
    else:
        place_key = None
    return {
        "language": LANGUAGES[index % len(LANGUAGES)],
        "received_day": FIRST_DAY + dt.timedelta(days=rng.randrange(150)),
        "category": None if rng.random() < 0.05 else rng.choice(CATEGORIES),
        "affected": tuple(a for a in AFFECTED if rng.random() < 0.35),
        "place_key": place_key, "place_text": text, "point": point,
        "when": None if rng.random() < 0.1 else FIRST_DAY + dt.timedelta(days=rng.randrange(150)),
        "status": rng.choice(STATUSES), "priority": rng.choice(PRIORITIES),
        "labels": tuple(sorted(label for label in LABELS if rng.random() < 0.2)),
    }


async def generate(
    storage: Storage,
    custody_key: bytes,
    reviewer: crypto.X25519Recipient,
    count: int,
    *,
    seed: int = 11,
    unreadable_every: int = 97,
) -> list[Truth]:
    """Seal `count` reports into `storage`; every `unreadable_every`-th to a stranger's key."""
    rng = random.Random(seed)
    questionnaire = load_questionnaire(DEFAULT_QUESTIONNAIRE)
    stranger = crypto.generate_identity().recipient
    drawn_all = [_draw(rng, index) for index in range(count)]
    limit = asyncio.Semaphore(4)

    async def one(index: int) -> Truth:
        async with limit:
            return await _seal_one(
                storage, custody_key, questionnaire, index, drawn_all[index],
                reviewer if unreadable_every == 0 or index % unreadable_every != 1 else stranger,
                unreadable_every == 0 or index % unreadable_every != 1,
                random.Random(seed * 100_003 + index),
            )

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def _seal_one(
    storage: Storage, custody_key: bytes, questionnaire: Questionnaire, index: int,
    drawn: dict[str, object], recipient: crypto.X25519Recipient, readable: bool,
    rng: random.Random,
) -> Truth:
    question = questionnaire.question
    recipients = [recipient]
    sealer = ItemSealer(
        storage.blobs, list(recipients), tuple(crypto.key_id(r) for r in recipients)
    )
    report_id = secrets.token_hex(16)
    language = str(drawn["language"])
    files = [f"evidence {index}".encode()] if index % 7 == 0 else []
    items: list[NewItem] = []
    facts = []
    for seq, data in enumerate(files, start=1):
        items.append(await sealer.seal(seq, ItemRole.ATTACHMENT, data))
        facts.append(AttachmentFacts(seq, "document", f"f{seq}.txt", "text/plain",
                                     len(data), hashlib.sha256(data).hexdigest()))
    what = f"report {index} in {language}: {rng.randrange(10**6)}"
    category = drawn["category"]
    point = drawn["point"]
    when = drawn["when"]
    answers: list[tuple[object, Answer]] = [
        (question("category"),
         Skipped() if category is None else ChoiceAnswer(str(category))),
        (question("what"), TextAnswer(what)),
        (question("when"), DateAnswer(when if isinstance(when, dt.date) else None)),
        (question("where"), _place(drawn)),
        (question("affected"), MultiChoiceAnswer(tuple(drawn["affected"]))),  # type: ignore[arg-type]
        (question("evidence"), MediaAnswer(tuple(
            MediaRef("document", f"h{i}", None) for i, _ in enumerate(files)
        ))),
    ]
    day = drawn["received_day"]
    assert isinstance(day, dt.date)
    document = report_document(
        report_id=report_id, questionnaire=questionnaire, language=language,
        answers=answers,  # type: ignore[arg-type]
        attachments=facts,
        submitted_at=dt.datetime.combine(day, dt.time(12), dt.UTC),
    )
    items.insert(0, await sealer.seal(0, ItemRole.ANSWERS, document))
    manifest = canonical_manifest(report_id, day.isoformat(), [
        ManifestEntry(i.seq, i.role.value, i.payload_size, i.payload_sha256) for i in items
    ])
    await storage.reports.add(NewReport(
        report_id=report_id, received_day=day, receipt_hash=secrets.token_bytes(32),
        submission_key=secrets.token_bytes(32), manifest=manifest,
        manifest_signature=sign_manifest(custody_key, manifest), items=tuple(items),
        witness_recipient=None,
    ))
    status, priority = str(drawn["status"]), str(drawn["priority"])
    if status != "new":
        await storage.triage.set_status(report_id, status)
    if priority != "normal":
        await storage.triage.set_priority(report_id, priority)
    labels = drawn["labels"]
    assert isinstance(labels, tuple)
    for label in labels:
        await storage.triage.add_label(report_id, label)
    return Truth(
        report_id=report_id, readable=readable, language=language, received_day=day,
        status=status, priority=priority, labels=labels,
        category=None if category is None else str(category),
        affected=tuple(drawn["affected"]),  # type: ignore[arg-type]
        place_key=drawn["place_key"],  # type: ignore[arg-type]
        place_text=drawn["place_text"],  # type: ignore[arg-type]
        point=point,  # type: ignore[arg-type]
        when=when if isinstance(when, dt.date) else None,
        what=what,
        attachment_sha256=tuple(f.sha256 for f in facts),
    )


def _place(drawn: dict[str, object]) -> Answer:
    point = drawn["point"]
    if isinstance(point, tuple):
        return PlaceAnswer(latitude=point[0], longitude=point[1])
    if isinstance(drawn["place_text"], str):
        return PlaceAnswer(text=drawn["place_text"])
    return Skipped()


def readable(truths: Sequence[Truth]) -> list[Truth]:
    return [t for t in truths if t.readable]
