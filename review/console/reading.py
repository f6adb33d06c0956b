"""Decrypting in the console's own process: reports, their attachments and notes.

The identities are loaded once when the console starts and live only in this process's memory.
Decrypted items are kept in a bounded in-memory cache so that a report page and the images it
shows are decrypted once, and are never written to disk. Every item's integrity is checked as
it is opened: its payload against the custody manifest, its plaintext against the sealed
SHA-256 the bot recorded when it sealed it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import crypto
from crypto.custody import verify_manifest
from review.answers import Labels, answer_views
from review.backend import ReviewBackend
from review.console.media import clean_file_name, present
from review.console.model import (
    AdditionView,
    AttachmentView,
    CopyView,
    NoteView,
    Preview,
    QuestionView,
    ReportView,
)
from review.custody.access import opened_message_ids, record_access
from review.tools import day_sent, in_conversation_order, read_notes, read_questions
from storage import ItemRole, ReportSummary, StoredItem, StoredReport

# Decrypted bytes kept for re-use (a report page, then its images). A reviewer's laptop has
# room for this; items larger than the whole budget are decrypted per request instead.
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
_PREVIEW_CHARS = 160
_PREVIEW_CONCURRENCY = 8


class CannotOpen(Exception):
    """None of the reviewer's identities opens this item (not sealed to them, or damaged)."""


@dataclass(frozen=True)
class Opened:
    data: bytes
    payload_matches: bool  # the ciphertext hashes to what the custody manifest lists


class Reader:
    def __init__(
        self,
        backend: ReviewBackend,
        identities: Sequence[crypto.Identity],
        *,
        custody_public: bytes | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        labels: Labels | None = None,
    ) -> None:
        self.backend = backend
        # Question and choice labels in the reviewer's language, from the questionnaire.
        self.labels = labels or Labels()
        self._identities = list(identities)
        self._custody_public = custody_public
        self._cache: OrderedDict[tuple[str, int, str], Opened] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached = 0
        # Keyed by report id alone: re-wrapping or re-encrypting never changes what a report says.
        self._previews: dict[str, Preview] = {}

    @property
    def identities(self) -> list[crypto.Identity]:
        """The reviewer's identities this console decrypts with."""
        return self._identities

    # --- items -----------------------------------------------------------------------------

    async def item(self, report: StoredReport, seq: int, *, record: bool = True) -> Opened:
        """An item decrypted (or from this process's cache). Each decryption is recorded as
        opened, unless the caller records it itself (`record=False`: the monitoring pages,
        which record the whole queue in a few bulk entries)."""
        item = _item(report, seq)
        key = (report.summary.report_id, seq, item.payload_sha256)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        payload = await self.backend.read_payload(report.summary.report_id, seq)
        opened = await asyncio.to_thread(self._open, item, payload, report.manifest)
        # Each decryption is in the chain of custody; a cached item was recorded when it was
        # decrypted, earlier in this console session.
        if record:
            await record_access(
                self.backend, report.summary.report_id, "opened", items=[seq], via="console"
            )
        self._remember(key, opened)
        return opened

    def _open(self, item: StoredItem, payload: bytes, manifest: bytes) -> Opened:
        try:
            data = crypto.open_bytes(item.header, payload, self._identities)
        except crypto.DecryptionError:
            raise CannotOpen() from None
        listed = _manifest_hashes(manifest).get(item.seq)
        digest = hashlib.sha256(payload).hexdigest()
        return Opened(data, listed == digest == item.payload_sha256)

    def _remember(self, key: tuple[str, int, str], opened: Opened) -> None:
        size = len(opened.data)
        if size > self._cache_bytes:
            return
        self._cache[key] = opened
        self._cached += size
        while self._cached > self._cache_bytes:
            _old, evicted = self._cache.popitem(last=False)
            self._cached -= len(evicted.data)

    def forget(self) -> None:
        """Drop every decrypted byte this process holds (at shutdown)."""
        self._cache.clear()
        self._previews.clear()
        self._cached = 0

    # --- reports ---------------------------------------------------------------------------

    async def document(self, report: StoredReport) -> tuple[dict[str, Any], bool]:
        answers = next((i for i in report.items if i.role is ItemRole.ANSWERS), None)
        if answers is None:
            raise CannotOpen()
        opened = await self.item(report, answers.seq)
        try:
            document = json.loads(opened.data)
        except ValueError:
            raise CannotOpen() from None
        if not isinstance(document, dict):
            raise CannotOpen()
        return document, opened.payload_matches

    async def open_report(self, report_id: str) -> ReportView:
        report = await self.backend.get_report(report_id)
        document, answers_intact = await self.document(report)
        facts = _facts_by_seq(document.get("attachments"), "item")
        additions: list[AdditionView] = []
        for item in report.items:
            if item.role is ItemRole.ADDITION:
                view, added_facts = await self._addition(report, item)
                additions.append(view)
                facts.update(added_facts)
        copies: dict[int, list[CopyView]] = {}
        for item in report.items:
            if item.role is ItemRole.WORKING_COPY and item.parent_seq is not None:
                opened = await self._try(report, item.seq)
                copies.setdefault(item.parent_seq, []).append(CopyView(
                    item.seq, len(opened.data) if opened else 0,
                    opened is not None and opened.payload_matches,
                ))
        attachments = [
            await self._attachment(report, item, facts.get(item.seq, {}),
                                   tuple(copies.get(item.seq, ())))
            for item in report.items if item.role is ItemRole.ATTACHMENT
        ]
        questions = [
            QuestionView(q.day, q.text)
            for q in await read_questions(self.backend, report_id, self._identities)
        ]
        await record_access(
            self.backend, report_id, "opened", via="console",
            messages=await opened_message_ids(self.backend, report_id, self._identities),
        )
        follow_up = in_conversation_order(questions, additions, lambda a: a.day)
        intact = (
            answers_intact
            and all(a.intact and all(c.intact for c in a.copies) for a in attachments)
            and all(a.intact for a in additions)
        )
        return ReportView(
            summary=report.summary,
            submitted_at=readable_time(document.get("submitted_at")),
            language=self.labels.language_name(document.get("language")),
            answers=answer_views(document.get("answers", []), self.labels),
            attachments=attachments,
            additions=additions,
            follow_up=follow_up,
            signature=self._signature(report),
            all_intact=intact,
            can_message_witness=report.witness_recipient is not None,
        )

    async def _try(self, report: StoredReport, seq: int) -> Opened | None:
        try:
            return await self.item(report, seq)
        except CannotOpen:
            return None

    async def _addition(
        self, report: StoredReport, item: StoredItem
    ) -> tuple[AdditionView, dict[int, dict[str, Any]]]:
        opened = await self._try(report, item.seq)
        try:
            document = json.loads(opened.data) if opened else {}
        except ValueError:
            document = {}
        if not isinstance(document, dict):
            document = {}
        texts = document.get("texts")
        view = AdditionView(
            seq=item.seq,
            submitted_at=readable_time(document.get("submitted_at")),
            texts=tuple(t for t in texts if isinstance(t, str)) if isinstance(texts, list) else (),
            intact=opened is not None and opened.payload_matches,
            day=day_sent(document.get("submitted_at")),
        )
        return view, _facts_by_seq(document.get("attachments"), "seq")

    async def _attachment(
        self, report: StoredReport, item: StoredItem, facts: dict[str, Any],
        copies: tuple[CopyView, ...],
    ) -> AttachmentView:
        opened = await self._try(report, item.seq)
        intact = opened is not None and opened.payload_matches and (
            hashlib.sha256(opened.data).hexdigest() == facts.get("sha256")
        )
        return AttachmentView(
            seq=item.seq,
            kind=str(facts.get("kind") or "file"),
            presentation=present(facts),
            file_name=clean_file_name(facts.get("file_name")),
            size=len(opened.data) if opened else 0,
            caption=_text(facts.get("caption")),
            sha256=_text(facts.get("sha256")),
            intact=intact,
            added_later=item.parent_seq is not None,
            copies=copies,
        )

    def _signature(self, report: StoredReport) -> str:
        if self._custody_public is None:
            return "not checked"
        valid = verify_manifest(self._custody_public, report.manifest, report.manifest_signature)
        return "valid" if valid else "invalid"

    async def attachment(self, report_id: str, seq: int) -> tuple[bytes, dict[str, Any]]:
        """A file's plaintext and its sealed facts (a working copy's are its original's)."""
        report = await self.backend.get_report(report_id)
        item = _item(report, seq)
        if item.role in (ItemRole.ANSWERS, ItemRole.ADDITION):
            raise LookupError("answers and additions are shown on the report page, not as files")
        described = item.parent_seq if item.role is ItemRole.WORKING_COPY else item.seq
        original = _item(report, described) if described is not None else item
        if original.parent_seq is None:
            document, _intact = await self.document(report)
            facts = _facts_by_seq(document.get("attachments"), "item")
        else:
            _view, facts = await self._addition(report, _item(report, original.parent_seq))
        return (await self.item(report, seq)).data, facts.get(original.seq, {})

    # --- the queue -------------------------------------------------------------------------

    async def previews(self, summaries: Sequence[ReportSummary]) -> dict[str, Preview]:
        """A short decrypted glimpse of each listed report (its first choice and first text)."""
        limit = asyncio.Semaphore(_PREVIEW_CONCURRENCY)

        async def one(summary: ReportSummary) -> tuple[str, Preview]:
            async with limit:
                return summary.report_id, await self._preview(summary.report_id)

        return dict(await asyncio.gather(*(one(s) for s in summaries)))

    async def _preview(self, report_id: str) -> Preview:
        if report_id in self._previews:
            return self._previews[report_id]
        try:
            document, _intact = await self.document(await self.backend.get_report(report_id))
        except CannotOpen:
            preview = Preview(None, None, readable=False)
        else:
            views = answer_views(document.get("answers", []), self.labels)
            tag = next((a.value for a in views if a.type == "choice"), None)
            snippet = next((a.value for a in views if a.type == "text"), None)
            if snippet is not None and len(snippet) > _PREVIEW_CHARS:
                snippet = snippet[: _PREVIEW_CHARS - 1].rstrip() + "…"
            preview = Preview(tag, snippet, readable=True)
        self._previews[report_id] = preview
        return preview

    # --- notes ---------------------------------------------------------------------------

    async def notes(self, report_id: str) -> list[NoteView]:
        """A report's notes, decrypted here; the same plain UTF-8 the CLI writes and reads."""
        found = await read_notes(self.backend, report_id, self._identities)
        await record_access(
            self.backend, report_id, "opened", via="console",
            notes=[n.note.note_id for n in found if n.text is not None],
        )
        return [
            NoteView(opened.note.author, opened.note.created_on.isoformat(), opened.text)
            for opened in found
        ]


def _item(report: StoredReport, seq: int) -> StoredItem:
    for item in report.items:
        if item.seq == seq:
            return item
    raise LookupError(f"report {report.summary.report_id} has no item {seq}")


def _facts_by_seq(entries: object, key: str) -> dict[int, dict[str, Any]]:
    """Sealed facts per item: the report lists them under "item"; an addition was documented
    with "seq" but the bot writes "item" there too, so an addition's are read under either."""
    if not isinstance(entries, list):
        return {}
    keys = (key, "item") if key != "item" else (key,)
    found: dict[int, dict[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        seq = next((entry[k] for k in keys if isinstance(entry.get(k), int)), None)
        if seq is not None:
            found[seq] = entry
    return found


def _manifest_hashes(manifest: bytes) -> dict[int, str]:
    try:
        entries = json.loads(manifest).get("items", [])
        return {int(e["seq"]): str(e["payload_sha256"]) for e in entries}
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}


def readable_time(value: object) -> str | None:
    """`2026-11-24T04:59:06+00:00` as `2026-11-24 04:59 UTC`; anything else as it is."""
    text = _text(value)
    try:
        moment = dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return text
    if moment is None or moment.utcoffset() != dt.timedelta(0):
        return text
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
