"""SQLAlchemy models: exactly the clear-text columns the metadata policy allows.

Every column here is on the allowlist of docs/storage-format.md. Adding a column means adding
it there first, with the reason it is safe in clear. The rows are kept in four modules (the
base and its enumerations, reports, the bot's runtime, evidence); every name is importable
from here, and importing this package registers every table with `Base.metadata`.
"""

from storage.models.base import (
    DEFAULT_CHANNEL,
    WITHOUT_ROWID,
    Base,
    ItemRole,
    RecipientKind,
    Role,
)
from storage.models.evidence import (
    INSTALLATION_TREE,
    LEGACY_TREE,
    CustodyEntryRow,
    EvidenceDayRow,
    EvidenceLeafRow,
    EvidenceRenewalRow,
    EvidenceTokenRow,
    SupersededHeaderRow,
)
from storage.models.reports import (
    AuditReportRow,
    AuditRow,
    ChannelRow,
    CredentialRow,
    ItemRecipientRow,
    ItemRow,
    LabelRow,
    NoteRow,
    RecipientRow,
    ReportRow,
    WitnessMessageRow,
)
from storage.models.runtime import (
    AdditionMarkRow,
    ChatStateRow,
    OutboxRow,
    ParkedUpdateRow,
    PayloadChunkRow,
    PayloadRow,
    ProcessedUpdateRow,
    SendBudgetRow,
)

__all__ = [
    "DEFAULT_CHANNEL",
    "INSTALLATION_TREE",
    "LEGACY_TREE",
    "WITHOUT_ROWID",
    "AdditionMarkRow",
    "AuditReportRow",
    "AuditRow",
    "Base",
    "ChannelRow",
    "ChatStateRow",
    "CredentialRow",
    "CustodyEntryRow",
    "EvidenceDayRow",
    "EvidenceLeafRow",
    "EvidenceRenewalRow",
    "EvidenceTokenRow",
    "ItemRecipientRow",
    "ItemRole",
    "ItemRow",
    "LabelRow",
    "NoteRow",
    "OutboxRow",
    "ParkedUpdateRow",
    "PayloadChunkRow",
    "PayloadRow",
    "ProcessedUpdateRow",
    "RecipientKind",
    "RecipientRow",
    "ReportRow",
    "Role",
    "SendBudgetRow",
    "SupersededHeaderRow",
    "WitnessMessageRow",
]
