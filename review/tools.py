"""What a reviewer does on their own machine, through any ReviewBackend (local or remote).

Opening a report, reading notes, sealing a note or a question for the witness, and pulling the
queue as age files. Decryption and sealing happen here, with keys that never leave this
machine; the backend only ever sees ciphertext.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import crypto
from crypto.custody import verify_manifest
from review.backend import QueueFilter, ReviewBackend, SealedNote, SealedReader
from review.local import MIN_ID_PREFIX, InvalidRequestError, NotFoundError, ReviewError
from review.opened import REPORT_ID, OpenedAttachment, OpenedReport, item_file_name
from storage import (
    ItemRole,
    RecipientRecord,
    ReportSummary,
    StoredItem,
    StoredReport,
)

T = TypeVar("T")
_PAGE = 200
# As git does with commit ids: four characters at least, so a prefix is not a guess at random.
MIN_PREFIX = MIN_ID_PREFIX
_PREFIX = re.compile(rf"[0-9a-f]{{{MIN_PREFIX},32}}")
# An Ed25519 SubjectPublicKeyInfo is this fixed DER prefix followed by the 32-byte key.
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


class IdLookup(Protocol):
    """What resolving a short id needs: both backends answer it with one index range."""

    async def report_ids_with_prefix(self, prefix: str) -> list[str]: ...


class CustodySource(ReviewBackend, Protocol):
    """A backend that can also hand out the server's custody public key (both of ours can)."""

    async def custody_public_pem(self) -> bytes: ...

    async def report_ids_with_prefix(self, prefix: str) -> list[str]: ...


def public_key_from_pem(pem: bytes) -> bytes:
    """The raw 32-byte Ed25519 key from a PUBLIC KEY PEM, as crypto.custody expects it."""
    lines = pem.decode("ascii", "replace").strip().splitlines()
    if len(lines) < 3 or lines[0] != "-----BEGIN PUBLIC KEY-----":
        raise ReviewError("the server's custody key is not a PEM public key")
    der = base64.b64decode("".join(lines[1:-1]))
    if len(der) != 44 or not der.startswith(_ED25519_SPKI_PREFIX):
        raise ReviewError("the server's custody key is not an Ed25519 key")
    return der[len(_ED25519_SPKI_PREFIX):]


def custody_holds(
    report: StoredReport, payload_sha256: dict[int, str], custody_public: bytes
) -> bool:
    """The manifest is signed by the custody key and lists each payload's SHA-256 as fetched."""
    if not verify_manifest(custody_public, report.manifest, report.manifest_signature):
        return False
    listed = {i["seq"]: i["payload_sha256"] for i in json.loads(report.manifest)["items"]}
    return all(listed.get(item.seq) == payload_sha256.get(item.seq) for item in report.items)


async def open_report(
    backend: SealedReader,
    report_id: str,
    identities: list[crypto.Identity],
    custody_public: bytes | None = None,
) -> OpenedReport:
    """Decrypt a report here (crypto.DecryptionError if no identity fits)."""
    report = await backend.get_report(report_id)
    opened: dict[int, bytes] = {}
    hashes: dict[int, str] = {}
    for item in report.items:
        payload = await backend.read_payload(report_id, item.seq)
        hashes[item.seq] = hashlib.sha256(payload).hexdigest()
        opened[item.seq] = crypto.open_bytes(item.header, payload, identities)
    valid = custody_public is not None and custody_holds(report, hashes, custody_public)
    return opened_report(report, opened, valid)


def opened_report(report: StoredReport, opened: Mapping[int, bytes], valid: bool) -> OpenedReport:
    """The report from its decrypted items (`open_report`, and the export's report.txt)."""
    answers = next(item for item in report.items if item.role is ItemRole.ANSWERS)
    document: dict[str, Any] = json.loads(opened[answers.seq])
    additions = tuple(
        json.loads(opened[i.seq]) for i in report.items if i.role is ItemRole.ADDITION
    )
    # Attachments are described in the answers, or in the addition that brought them.
    facts = {
        a["item"]: a
        for described in (document, *additions)
        for a in described.get("attachments", [])
    }
    attachments = tuple(
        OpenedAttachment(seq=i.seq, data=opened[i.seq], facts=facts.get(i.seq, {}))
        for i in report.items
        if i.role is ItemRole.ATTACHMENT
    )
    return OpenedReport(report.summary, document, attachments, valid, additions)


async def channel_recipients(backend: ReviewBackend, report_id: str) -> list[RecipientRecord]:
    """The active recipients of the report's own channel (docs/channels.md)."""
    report = await backend.get_report(report_id)
    return [r for r in await backend.recipients() if r.channel == report.summary.channel]


async def seal_note(backend: ReviewBackend, report_id: str, text: str) -> SealedNote:
    """Seal `text` to every active recipient of the report's channel (so every reviewer of it
    can read it, and no other channel's) and upload it."""
    records = await channel_recipients(backend, report_id)
    if not records:
        raise InvalidRequestError("no active recipients to seal the note to")
    recipients = [crypto.parse_recipient(r.recipient) for r in records]
    header, payload = crypto.seal_bytes(text.encode("utf-8"), recipients)
    return await backend.add_note(report_id, header + payload)


@dataclass(frozen=True)
class OpenedNote:
    note: SealedNote
    text: str | None  # None: this identity cannot open it (sealed before you were added)


async def read_notes(
    backend: ReviewBackend, report_id: str, identities: list[crypto.Identity]
) -> list[OpenedNote]:
    opened: list[OpenedNote] = []
    for note in await backend.notes(report_id):
        try:
            header, offset = crypto.split_header(note.sealed)
            text = crypto.open_bytes(header, note.sealed[offset:], identities).decode("utf-8")
        except (crypto.DecryptionError, UnicodeDecodeError):
            text = None
        opened.append(OpenedNote(note, text))
    return opened


async def ask_witness(backend: ReviewBackend, report_id: str, text: str) -> None:
    """Seal a follow-up question for the witness and leave it on the server.

    It is sealed to the report's witness recipient, which only the receipt code opens, and to
    every active recipient, so that the reviewers can read back what they asked, above what the
    witness answered. Nobody else, the server included, can open it.
    """
    report = await backend.get_report(report_id)
    if report.witness_recipient is None:
        raise InvalidRequestError(
            "this report has no witness recipient (it was submitted before follow-up questions "
            "existed), so the witness could not read a question"
        )
    recipients = [crypto.parse_recipient(report.witness_recipient)]
    recipients += [
        crypto.parse_recipient(r.recipient) for r in await channel_recipients(backend, report_id)
    ]
    header, payload = crypto.seal_bytes(text.encode("utf-8"), recipients)
    await backend.leave_witness_message(report_id, header + payload)


@dataclass(frozen=True)
class OpenedQuestion:
    day: dt.date
    text: str | None  # None: sealed to the witness's key only (asked before questions were
    # also sealed to the reviewers)


async def read_questions(
    backend: ReviewBackend, report_id: str, identities: list[crypto.Identity]
) -> list[OpenedQuestion]:
    """The questions left for the witness, decrypted here where this identity opens them."""
    opened = []
    for message in await backend.witness_messages(report_id):
        try:
            header, offset = crypto.split_header(message.sealed)
            text: str | None = crypto.open_bytes(
                header, message.sealed[offset:], identities
            ).decode("utf-8")
        except (crypto.DecryptionError, UnicodeDecodeError):
            text = None
        opened.append(OpenedQuestion(message.created_on, text))
    return opened


class _Dated(Protocol):
    @property
    def day(self) -> dt.date: ...


Q = TypeVar("Q", bound=_Dated)


def in_conversation_order(
    questions: Sequence[Q], additions: Sequence[T], day_of: Callable[[T], dt.date | None]
) -> list[Q | T]:
    """Questions and the witness's additions as one conversation, each question first.

    Only a question's day is known (the server keeps no times), so each question is placed
    before the first addition sent on or after that day: a witness reads a question before
    answering it. Questions no addition followed come last.
    """
    waiting = sorted(questions, key=lambda q: q.day)
    ordered: list[Q | T] = []
    for addition in additions:
        day = day_of(addition)
        while waiting and day is not None and waiting[0].day <= day:
            ordered.append(waiting.pop(0))
        ordered.append(addition)
    return [*ordered, *waiting]


def day_sent(submitted_at: object) -> dt.date | None:
    """The UTC day of an ISO time such as an addition's `submitted_at`; None if unreadable."""
    if not isinstance(submitted_at, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(submitted_at)
    except ValueError:
        return None
    return moment.astimezone(dt.UTC).date() if moment.tzinfo else moment.date()


def check_report_prefix(text: str) -> str:
    """A report id or a prefix of one, as typed; InvalidRequestError naming the form otherwise."""
    if not _PREFIX.fullmatch(text):
        raise InvalidRequestError(
            f"{text!r} is not a report id: give its 32 lowercase hexadecimal characters, or a "
            f"unique prefix of at least {MIN_PREFIX} (see `intake review list`)"
        )
    return text


async def resolve_report_id(backend: IdLookup, text: str) -> str:
    """The one report whose id starts with `text` (a whole id is taken as it is, like git)."""
    check_report_prefix(text)
    if len(text) == 32:
        return text
    # One range on the id index (at most four ids), not a walk over the queue.
    found = await backend.report_ids_with_prefix(text)
    if not found:
        raise NotFoundError(f"no report starts with {text}: see `intake review list`")
    if len(found) > 1:
        count = f"{len(found)}" if len(found) < 4 else "more than 3"
        shown = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
        raise InvalidRequestError(
            f"{text} is ambiguous: it starts {count} reports ({shown}); give more characters"
        )
    return found[0]


async def walk_reports(
    backend: SealedReader, filters: QueueFilter | None = None
) -> AsyncIterator[ReportSummary]:
    """Every matching report once, in queue order, fetched one keyset page at a time."""
    filters = filters or QueueFilter()
    cursor: str | None = None
    while True:
        found = await backend.queue_page(filters, cursor=cursor, page_size=_PAGE)
        for summary in found.reports:
            yield summary
        if found.next_cursor is None:
            return
        cursor = found.next_cursor


def _up_to_date(target: Path, item: StoredItem) -> bool:
    """Whether `target` already is this item's age file, checked without downloading it."""
    try:
        if target.stat().st_size != len(item.header) + item.payload_size:
            return False
        data = target.read_bytes()
    except FileNotFoundError:
        return False
    digest = hashlib.sha256(data[len(item.header):]).hexdigest()
    return data.startswith(item.header) and digest == item.payload_sha256


def _write(target: Path, data: bytes) -> None:
    temporary = target.with_name(f".{target.name}.partial")
    temporary.write_bytes(data)
    temporary.replace(target)


async def pull(backend: SealedReader, out_dir: Path) -> tuple[int, int]:
    """Write every report as standard age files, DIR/<id>/NN-role.age, plus its custody manifest.

    Incremental: an item whose file already holds the same header and payload is not fetched
    again (a re-wrapped header is rewritten). Returns (files written, files already up to date).
    """
    written = unchanged = 0
    async for summary in walk_reports(backend):
        report_id = summary.report_id
        if not REPORT_ID.fullmatch(report_id):
            # Ids come from the server; a tampered one must not steer where we write.
            raise ReviewError("the server sent a malformed report id; refusing to write it")
        report = await backend.get_report(report_id)
        folder = out_dir / report_id
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in (("manifest.json", report.manifest),
                           ("manifest.sig", report.manifest_signature)):
            if (folder / name).exists() and (folder / name).read_bytes() == data:
                unchanged += 1
            else:
                _write(folder / name, data)
                written += 1
        for item in report.items:
            target = folder / item_file_name(item)
            if _up_to_date(target, item):
                unchanged += 1
                continue
            payload = await backend.read_payload(report_id, item.seq)
            _write(target, item.header + payload)
            written += 1
    return written, unchanged
