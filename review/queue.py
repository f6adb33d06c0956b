"""The reviewer's view of the queue: list, open (decrypting locally), and pull as age files."""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crypto
from crypto.custody import verify_manifest
from storage import ItemRole, ReportSummary, Storage, StoredItem, StoredReport


_REPORT_ID = re.compile(r"^[0-9a-f]{32}$")


class ReportNotFound(Exception):
    pass


@dataclass(frozen=True)
class OpenedAttachment:
    seq: int
    data: bytes
    facts: dict[str, Any]

    @property
    def intact(self) -> bool:
        return hashlib.sha256(self.data).hexdigest() == self.facts.get("sha256")


@dataclass(frozen=True)
class OpenedReport:
    summary: ReportSummary
    document: dict[str, Any]
    attachments: tuple[OpenedAttachment, ...]
    custody_valid: bool


async def list_reports(storage: Storage, *, status: str | None = None) -> list[ReportSummary]:
    return await storage.reports.summaries(status=status)


async def open_report(
    storage: Storage,
    report_id: str,
    identities: list[crypto.Identity],
    custody_public: bytes | None = None,
) -> OpenedReport:
    """Decrypt a report with the reviewer's identities (crypto.DecryptionError if none fits)."""
    report = await storage.reports.get(report_id)
    if report is None:
        raise ReportNotFound(report_id)
    opened = {item.seq: _open_item(storage, item, identities) for item in report.items}
    answers = next(item for item in report.items if item.role is ItemRole.ANSWERS)
    document: dict[str, Any] = json.loads(opened[answers.seq])
    facts_by_seq = {a["item"]: a for a in document.get("attachments", [])}
    attachments = tuple(
        OpenedAttachment(seq=item.seq, data=opened[item.seq], facts=facts_by_seq.get(item.seq, {}))
        for item in report.items
        if item.role is ItemRole.ATTACHMENT
    )
    custody_valid = custody_public is not None and _custody_holds(report, storage, custody_public)
    return OpenedReport(report.summary, document, attachments, custody_valid)


def _open_item(storage: Storage, item: StoredItem, identities: list[crypto.Identity]) -> bytes:
    out = io.BytesIO()
    with storage.blobs.open(item.item_id) as payload:
        crypto.open_sealed(item.header, payload, out, identities)
    return out.getvalue()


def _custody_holds(report: StoredReport, storage: Storage, custody_public: bytes) -> bool:
    if not verify_manifest(custody_public, report.manifest, report.manifest_signature):
        return False
    listed = {i["seq"]: i for i in json.loads(report.manifest)["items"]}
    for item in report.items:
        entry = listed.get(item.seq)
        if entry is None or entry["payload_sha256"] != _blob_sha256(storage, item.item_id):
            return False
    return True


def _blob_sha256(storage: Storage, item_id: str) -> str:
    digest = hashlib.sha256()
    with storage.blobs.open(item_id) as payload:
        for chunk in iter(lambda: payload.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def item_file_name(item: StoredItem) -> str:
    return f"{item.seq:02d}-{item.role.value}.age"


async def pull(storage: Storage, out_dir: Path) -> tuple[int, int]:
    """Write every report as standard age files, DIR/<id>/NN-role.age, plus its custody manifest.

    Files already present with the same bytes are left alone, so pulling again is incremental.
    Returns (files written, files already up to date).
    """
    written = unchanged = 0
    for summary in await storage.reports.summaries():
        report = await storage.reports.get(summary.report_id)
        if report is None:  # shredded between the listing and now
            continue
        if not _REPORT_ID.match(report.summary.report_id):
            # Ids come from the database; a tampered one must not steer where we write.
            raise ValueError("the store holds a malformed report id; refusing to write it")
        folder = out_dir / report.summary.report_id
        folder.mkdir(parents=True, exist_ok=True)
        outputs: dict[str, bytes] = {
            "manifest.json": report.manifest,
            "manifest.sig": report.manifest_signature,
        }
        for item in report.items:
            with storage.blobs.open(item.item_id) as payload:
                outputs[item_file_name(item)] = item.header + payload.read()
        for name, data in outputs.items():
            target = folder / name
            if target.exists() and target.read_bytes() == data:
                unchanged += 1
                continue
            temporary = target.with_name(f".{name}.partial")
            temporary.write_bytes(data)
            temporary.replace(target)
            written += 1
    return written, unchanged
