"""Storage: ciphertext and the documented minimal metadata, nothing else.

This package holds sealed age headers in a SQL database (SQLite by default, PostgreSQL by URL)
and sealed payloads as blobs in a directory. It cannot decrypt anything: it never sees a
private key, and it never receives plaintext. What may be stored in clear is the allowlist in
docs/storage-format.md; the canary tests check it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Each name is imported from its module when first asked for (PEP 562), so `from storage import
# Storage` does not load every repository's module: `intake review list` stays quick to start.
_MODULES = {
    "BlobStore": "blobs", "BlobWriter": "blobs",
    "ChannelExistsError": "channels", "UnknownChannelError": "channels",
    "UNCHANGED": "conversations", "AlreadyProcessed": "conversations",
    "ConversationRepository": "conversations", "OutboxEntry": "conversations",
    "SweepCounts": "conversations", "Unchanged": "conversations",
    "Storage": "database", "default_sqlite_url": "database",
    "DEFAULT_CHANNEL": "models", "ItemRole": "models", "RecipientKind": "models", "Role": "models",
    "InvalidCursorError": "queue", "QueueFilters": "queue", "QueuePage": "queue",
    "ChannelRecord": "records", "NewItem": "records", "NewReport": "records",
    "RecipientRecord": "records", "ReportSummary": "records", "StoredItem": "records",
    "StoredReport": "records",
    "DuplicateSubmission": "repositories",
    "RecipientExistsError": "recipients", "UnknownRecipientError": "recipients",
}


if not TYPE_CHECKING:  # mypy reads the imports above, and still flags a name that is not here

    def __getattr__(name: str) -> Any:
        module = _MODULES.get(name)
        if module is None:
            raise AttributeError(f"module 'storage' has no attribute {name!r}")
        value = getattr(importlib.import_module(f"storage.{module}"), name)
        globals()[name] = value
        return value


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
