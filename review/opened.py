"""A report as a reviewer sees it once decrypted on their own machine."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from storage import ReportSummary, StoredItem

REPORT_ID = re.compile(r"[0-9a-f]{32}")


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
    # What the witness added later with their receipt code: {"submitted_at", "texts", ...}.
    additions: tuple[dict[str, Any], ...] = ()


def item_file_name(item: StoredItem) -> str:
    return f"{item.seq:02d}-{item.role.value}.age"
