"""Plain records passed in and out of the repositories (no ORM objects leak out)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from storage.models import DEFAULT_CHANNEL, ItemRole, RecipientKind


@dataclass(frozen=True)
class NewItem:
    """A sealed item whose payload blob has already been written and synced."""

    item_id: str
    seq: int
    role: ItemRole
    header: bytes
    payload_size: int
    payload_sha256: str
    recipient_key_ids: tuple[str, ...]
    parent_seq: int | None = None


@dataclass(frozen=True)
class NewReport:
    report_id: str
    received_day: dt.date
    receipt_hash: bytes
    submission_key: bytes
    manifest: bytes
    manifest_signature: bytes
    items: tuple[NewItem, ...]
    witness_recipient: str | None = None
    channel: str = DEFAULT_CHANNEL


@dataclass(frozen=True)
class ReportSummary:
    report_id: str
    received_day: dt.date
    status: str
    priority: str
    assignee: str | None
    item_count: int
    labels: tuple[str, ...] = ()
    channel: str = DEFAULT_CHANNEL


@dataclass(frozen=True)
class StoredItem:
    item_id: str
    seq: int
    role: ItemRole
    header: bytes
    payload_size: int
    payload_sha256: str
    recipient_key_ids: tuple[str, ...]
    parent_seq: int | None = None


@dataclass(frozen=True)
class StoredReport:
    summary: ReportSummary
    manifest: bytes
    manifest_signature: bytes
    items: tuple[StoredItem, ...] = field(default_factory=tuple)
    witness_recipient: str | None = None


@dataclass(frozen=True)
class RecipientRecord:
    name: str
    recipient: str
    key_id: str
    added_on: dt.date
    removed_on: dt.date | None
    kind: RecipientKind = RecipientKind.REVIEWER
    channel: str = DEFAULT_CHANNEL

    @property
    def active(self) -> bool:
        return self.removed_on is None


@dataclass(frozen=True)
class ChannelRecord:
    """A channel's settings; None means "the deployment's INTAKE_* setting"."""

    slug: str
    name: str
    questionnaire: str | None = None
    languages: tuple[str, ...] | None = None
    retention_days: str | None = None
    reviewers_chat_id: int | None = None
    public: bool = False
    created_on: dt.date | None = None
    # The channel's own bot (docs/channels.md): paths of files holding its token and webhook
    # secret; None: served by the deployment's bot (and its INTAKE_WEBHOOK_SECRET_FILE).
    bot_token_file: str | None = None
    webhook_secret_file: str | None = None
