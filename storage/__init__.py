"""Storage: ciphertext and the documented minimal metadata, nothing else.

This package holds sealed age headers in a SQL database (SQLite by default, PostgreSQL by URL)
and sealed payloads as blobs in a directory. It cannot decrypt anything: it never sees a
private key, and it never receives plaintext. What may be stored in clear is the allowlist in
docs/storage-format.md; the canary tests check it.
"""

from storage.blobs import BlobStore, BlobWriter
from storage.channels import ChannelExistsError, UnknownChannelError
from storage.conversations import (
    UNCHANGED,
    AlreadyProcessed,
    ConversationRepository,
    OutboxEntry,
    SweepCounts,
    Unchanged,
)
from storage.database import Storage, default_sqlite_url
from storage.models import DEFAULT_CHANNEL, ItemRole, RecipientKind, Role
from storage.queue import InvalidCursorError, QueueFilters, QueuePage
from storage.recipients import RecipientExistsError, UnknownRecipientError
from storage.records import (
    ChannelRecord,
    NewItem,
    NewReport,
    RecipientRecord,
    ReportSummary,
    StoredItem,
    StoredReport,
)
from storage.repositories import DuplicateSubmission

__all__ = [
    "DEFAULT_CHANNEL",
    "UNCHANGED",
    "AlreadyProcessed",
    "BlobStore",
    "BlobWriter",
    "ChannelExistsError",
    "ChannelRecord",
    "ConversationRepository",
    "DuplicateSubmission",
    "InvalidCursorError",
    "ItemRole",
    "NewItem",
    "NewReport",
    "OutboxEntry",
    "QueueFilters",
    "QueuePage",
    "RecipientExistsError",
    "RecipientKind",
    "RecipientRecord",
    "ReportSummary",
    "Role",
    "Storage",
    "StoredItem",
    "StoredReport",
    "SweepCounts",
    "Unchanged",
    "UnknownChannelError",
    "UnknownRecipientError",
    "default_sqlite_url",
]
