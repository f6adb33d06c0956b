"""Checks of a restored (or moved) installation, with what the server holds and nothing more.

The server has no reviewer's private key, so "every item readable" means what can be checked
without one: each item's header and each sealed note and message parse as age, each payload is
there with the SHA-256 its row and its custody manifest record, each manifest's signature holds
under the custody key, the audit trail's chain and signatures are intact, and (with the draft
key) every draft and unsent message opens.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

import crypto
from bot.chat_store import OUTBOX_LIFETIME_DAYS
from crypto.custody import custody_public_key, verify_manifest
from crypto.drafts import PURPOSE_CHAT_STATE, PURPOSE_OUTBOX, DraftKeyring
from review.audit import AuditTrail
from storage import Storage
from storage.models import (
    ChatStateRow,
    ItemRow,
    NoteRow,
    OutboxRow,
    ReportRow,
    SupersededHeaderRow,
    WitnessMessageRow,
)
from storage.transfer import check_payloads, payload_hashes

# Drafts live at most INTAKE_DRAFT_TTL_MINUTES (up to a week); a row still unexpired was sealed
# within that many days.
_DRAFT_DAYS = 8
_PAGE = 1000
_MAX_NAMED = 5


@dataclass
class InstallationCheck:
    reports: int = 0
    items: int = 0
    payload_bytes: int = 0
    sealed_records: int = 0
    custody_valid: int = 0
    audit_entries: int = 0
    drafts: int = 0
    outbox: int = 0
    drafts_checked: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        drafts = (f"{self.drafts} drafts and {self.outbox} unsent messages open with the draft "
                  "key" if self.drafts_checked else
                  f"{self.drafts} drafts and {self.outbox} unsent messages not checked (no draft "
                  "key given)")
        return [
            f"{self.reports} reports: {self.items} items' age headers parse, their payloads "
            f"({self.payload_bytes} bytes) match their SHA-256",
            f"{self.custody_valid} of {self.reports} custody manifests signed by the custody "
            "key and listing those payloads",
            f"{self.sealed_records} sealed notes and witness messages parse as age",
            f"audit trail: {self.audit_entries} entries, chain and signatures checked",
            drafts,
            *(f"PROBLEM: {problem}" for problem in self.problems),
        ]


async def _reports_in_pages(
    connection: AsyncConnection, page: int = _PAGE
) -> AsyncIterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Reports (id, manifest, signature) a page at a time, with their items' rows."""
    after = ""
    while True:
        reports = [tuple(row) for row in await connection.execute(
            select(ReportRow.id, ReportRow.manifest, ReportRow.manifest_signature)
            .where(ReportRow.id > after).order_by(ReportRow.id).limit(page)
        )]
        if not reports:
            return
        items = [tuple(row) for row in await connection.execute(
            select(ItemRow.report_id, ItemRow.id, ItemRow.seq, ItemRow.header,
                   ItemRow.payload_sha256)
            .where(ItemRow.report_id.in_([row[0] for row in reports]))
        )]
        yield reports, items
        after = str(reports[-1][0])


def _custody_holds(
    public: bytes, manifest: bytes, signature: bytes, items: list[tuple[str, int, bytes, str]]
) -> bool:
    """Signed by the custody key, and listing exactly these items' payload hashes."""
    if not verify_manifest(public, manifest, signature):
        return False
    try:
        listed = {i["seq"]: i["payload_sha256"] for i in json.loads(manifest)["items"]}
    except (ValueError, KeyError, TypeError):
        return False
    return len(listed) == len(items) and all(
        listed.get(seq) == digest for _id, seq, _header, digest in items
    )


def _named(what: str, names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_NAMED]) + (" ..." if len(names) > _MAX_NAMED else "")
    return f"{len(names)} {what}: {shown}"


async def check_installation(
    storage: Storage, custody_key: bytes, draft_key: DraftKeyring | None
) -> InstallationCheck:
    result = InstallationCheck()
    public = custody_public_key(custody_key)
    async with storage.engine.connect() as connection:
        hashes = await payload_hashes(connection)
        sealed = [
            *(await connection.execute(select(NoteRow.id, NoteRow.sealed))).all(),
            *(await connection.execute(
                select(WitnessMessageRow.id, WitnessMessageRow.sealed))).all(),
        ]
        kept_headers = (await connection.execute(
            select(SupersededHeaderRow.item_id, SupersededHeaderRow.header))).all()
        states = (await connection.execute(
            select(ChatStateRow.chat_key, ChatStateRow.sealed, ChatStateRow.expires_hour)
        )).all()
        outbox = (await connection.execute(select(OutboxRow.chat_key, OutboxRow.sealed))).all()
    payloads = await asyncio.to_thread(check_payloads, storage.blobs, hashes)
    result.payload_bytes = payloads.bytes
    if payloads.missing:
        result.problems.append(_named("payloads missing", payloads.missing))
    if payloads.damaged:
        result.problems.append(_named("payloads whose SHA-256 does not match", payloads.damaged))
    bad_headers: list[str] = []
    bad_custody: list[str] = []
    async with storage.engine.connect() as connection:
        async for reports, items in _reports_in_pages(connection):
            by_report: dict[str, list[tuple[str, int, bytes, str]]] = {}
            for report_id, item_id, seq, header, digest in items:
                by_report.setdefault(report_id, []).append((item_id, seq, header, digest))
            for report_id, manifest, signature in reports:
                result.reports += 1
                mine = by_report.get(report_id, [])
                for item_id, _seq, header, _digest in mine:
                    result.items += 1
                    try:
                        crypto.split_header(header)
                    except crypto.DecryptionError:
                        bad_headers.append(item_id)
                if not _custody_holds(public, manifest, signature, mine):
                    bad_custody.append(report_id)
    result.custody_valid = result.reports - len(bad_custody)
    for item_id, header in kept_headers:  # headers replaced earlier, kept to be put back
        try:
            crypto.split_header(header)
        except crypto.DecryptionError:
            bad_headers.append(f"{item_id} (superseded)")
    if bad_headers:
        result.problems.append(_named("items whose age header does not parse", bad_headers))
    if bad_custody:
        result.problems.append(_named("reports whose custody manifest fails", bad_custody))
    bad_sealed = []
    for record_id, blob in sealed:
        result.sealed_records += 1
        try:
            crypto.split_header(blob)
        except crypto.DecryptionError:
            bad_sealed.append(str(record_id))
    if bad_sealed:
        result.problems.append(_named("notes or messages that are not age files", bad_sealed))
    try:
        audit = await AuditTrail(storage.audit, custody_key).verify()
    except (TypeError, ValueError) as error:  # a row of the wrong type, written by hand
        result.problems.append(f"audit trail cannot be read ({type(error).__name__}): a row "
                               "was changed outside intake")
    else:
        result.audit_entries = audit.entries
        if not audit.ok:
            result.problems.append(
                f"audit trail broken at entry {audit.first_broken}: {audit.problem}"
            )
    _check_drafts(result, [(str(c), bytes(s), int(e)) for c, s, e in states],
                  [(str(c), bytes(s)) for c, s in outbox], draft_key)
    return result


def _check_drafts(
    result: InstallationCheck,
    states: list[tuple[str, bytes, int]],
    outbox: list[tuple[str, bytes]],
    key: DraftKeyring | None,
) -> None:
    hour = int(time.time()) // 3600
    live = [(chat, sealed) for chat, sealed, expires in states if expires > hour]
    result.drafts, result.outbox = len(live), len(outbox)
    if key is None:
        return
    result.drafts_checked = True
    today = dt.datetime.now(dt.UTC).date()
    unreadable = 0
    for purpose, rows, days in ((PURPOSE_CHAT_STATE, live, _DRAFT_DAYS),
                                (PURPOSE_OUTBOX, outbox, OUTBOX_LIFETIME_DAYS)):
        for chat_key, sealed in rows:
            try:
                key.open(purpose, chat_key, sealed, day=today, lifetime_days=days)
            except crypto.DecryptionError:
                unreadable += 1
    if unreadable:
        result.problems.append(
            f"{unreadable} drafts or unsent messages do not open with the draft key given: "
            "give the draft key of the installation the backup was made from"
        )
