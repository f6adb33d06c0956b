"""Decrypting the whole queue here, once, into Records: with progress, and a sealed cache.

The server hands over summaries (clear metadata) and ciphertext; this module opens the answers
and additions of every report with the reviewer's identities, and, when corroboration needs it,
each image attachment to compute its perceptual hash. Content already in the sealed cache is
not fetched again as long as the report has the same number of items (an addition adds one;
re-wrapping a header changes nothing a report says).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import crypto
from review.backend import QueueFilter, ReviewBackend
from review.custody.access import record_access
from review.local import LocalBackend
from review.monitoring.records import (
    IMAGE_TYPES,
    Content,
    Question,
    Record,
    content_from_documents,
)
from storage import ItemRole, ReportSummary, StoredItem, StoredReport

PAGE_SIZE = 500
# Reports fetched and opened at once: overlaps the database's (or the network's) waits with
# decryption, without holding the whole queue's ciphertext in memory.
CONCURRENCY = 8
# Images larger than this are not hashed: a witness's photo is a few MB; a 50 MB "image" is
# more likely a document, and decoding it would stall the reviewer's machine.
MAX_IMAGE_BYTES = 50 * 1024 * 1024

Progress = Callable[[int, int], None]
OpenItem = Callable[[StoredReport, StoredItem], Awaitable[bytes | None]]
# The reviewers' questions left for a report's witness, decrypted where this identity can.
ReadQuestions = Callable[[str], Awaitable[Sequence[Question]]]


class QueueReader(Protocol):
    async def list_reports(
        self, filters: QueueFilter, *, page: int = 1, page_size: int = 50
    ) -> list[ReportSummary]: ...

    async def get_report(self, report_id: str) -> StoredReport: ...

    async def read_payload(self, report_id: str, seq: int) -> bytes: ...


async def all_summaries(backend: QueueReader) -> list[ReportSummary]:
    """Every report's clear metadata, page by page."""
    summaries: list[ReportSummary] = []
    page = 1
    while True:
        found = await backend.list_reports(QueueFilter(), page=page, page_size=PAGE_SIZE)
        summaries.extend(found)
        if len(found) < PAGE_SIZE:
            return summaries
        page += 1


def item_opener(backend: QueueReader, identities: Sequence[crypto.Identity]) -> OpenItem:
    """Open an item with these identities; None when none of them can."""
    keys = list(identities)

    async def open_item(report: StoredReport, item: StoredItem) -> bytes | None:
        if isinstance(backend, LocalBackend):
            # The blob itself: LocalBackend.read_payload would look the report up again.
            with backend.storage.blobs.open(item.item_id) as handle:
                payload = handle.read()
        else:
            payload = await backend.read_payload(report.summary.report_id, item.seq)
        try:
            return crypto.open_bytes(item.header, payload, keys)
        except crypto.DecryptionError:
            return None

    return open_item


def question_reader(
    backend: ReviewBackend, identities: Sequence[crypto.Identity], opened: list[tuple[str, str]]
) -> ReadQuestions:
    """Read a report's questions with these identities, noting (report, message) opened."""
    keys = list(identities)

    async def read(report_id: str) -> list[Question]:
        found = []
        for message in await backend.witness_messages(report_id):
            try:
                header, offset = crypto.split_header(message.sealed)
                text: str | None = crypto.open_bytes(
                    header, message.sealed[offset:], keys).decode("utf-8")
                opened.append((report_id, message.message_id))
            except (crypto.DecryptionError, UnicodeDecodeError):
                text = None
            found.append(Question(message.created_on, text))
        return found

    return read


async def record_questions_opened(
    backend: object, opened: Sequence[tuple[str, str]], *, via: str
) -> None:
    """One custody entry per report whose questions were decrypted here."""
    by_report: dict[str, list[str]] = {}
    for report_id, message_id in opened:
        by_report.setdefault(report_id, []).append(message_id)
    for report_id, messages in by_report.items():
        await record_access(backend, report_id, "opened", messages=messages, via=via)


async def read_content(
    backend: QueueReader, open_item: OpenItem, summary: ReportSummary, *, images: bool,
    questions: ReadQuestions | None = None,
) -> Content:
    """Decrypt one report's answers, additions and questions (and hash its images if asked)."""
    report = await backend.get_report(summary.report_id)
    count = len(report.items)
    answers = next((i for i in report.items if i.role is ItemRole.ANSWERS), None)
    document = _json(await open_item(report, answers)) if answers is not None else None
    if document is None:
        return Content(item_count=count, readable=False)
    additions, addition_items = [], []
    for item in report.items:
        if item.role is ItemRole.ADDITION:
            added = _json(await open_item(report, item))
            if added is not None:
                additions.append(added)
                addition_items.append(item.seq)
    asked = list(await questions(summary.report_id)) if questions is not None else []
    phashes: dict[int, str] | None = None
    sniffed: dict[int, str] = {}
    if images:
        # Imported here: imagehash brings numpy and scipy, which a count does not need.
        from review.monitoring.similar import perceptual_hash

        phashes = {}
        # Every attachment, whatever Telegram said it was: a photo sent "as a file" arrives as
        # application/octet-stream, and a "photo" may be anything. The bytes decide.
        for item in report.items:
            if item.role is not ItemRole.ATTACHMENT or item.payload_size > MAX_IMAGE_BYTES:
                continue
            data = await open_item(report, item)
            if data is None:
                continue
            kind = sniff_type(data)
            if kind is not None:
                sniffed[item.seq] = kind
            if kind in IMAGE_TYPES:
                digest = await asyncio.to_thread(perceptual_hash, data)
                if digest is not None:
                    phashes[item.seq] = digest
    return content_from_documents(count, document, additions, phashes,
                                  addition_items=addition_items, questions=asked,
                                  sniffed=sniffed)


def sniff_type(data: bytes) -> str | None:
    """The MIME type the bytes themselves show (filetype reads their magic numbers)."""
    import filetype

    found = filetype.guess_mime(data[:8192])
    return "image/png" if found == "image/apng" else found


async def collect(
    backend: QueueReader,
    open_item: OpenItem,
    *,
    images: bool = False,
    cached: dict[str, Content] | None = None,
    progress: Progress | None = None,
    questions: ReadQuestions | None = None,
) -> list[Record]:
    """Every report of the queue as a Record, oldest first; `cached` content is re-used."""
    summaries = await all_summaries(backend)
    cached = cached or {}
    done = 0
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(summary: ReportSummary) -> Record:
        nonlocal done
        known = cached.get(summary.report_id)
        fresh = (
            known is not None and known.item_count == summary.item_count
            and (known.images_hashed or not images or not known.readable)
        )
        if fresh and known is not None:
            content = known
        else:
            async with limit:
                content = await read_content(backend, open_item, summary, images=images,
                                             questions=questions)
        done += 1
        if progress is not None:
            progress(done, len(summaries))
        return Record(summary, content)

    records = list(await asyncio.gather(*(one(s) for s in summaries)))
    records.sort(key=lambda r: (r.received_day, r.report_id))
    return records


def _json(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
