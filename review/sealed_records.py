"""Key rotation for the sealed records that are not report items: notes and witness messages.

A reviewer's note is an age file sealed to every active recipient; a message for the witness is
sealed to the report's witness recipient and to every active recipient. After a reviewer is
removed, `intake keys rewrap` must give these, too, header stanzas for exactly the current
recipients (keeping a message's witness stanza), or the removed reviewer keeps reading them;
`intake keys reencrypt` gives them fresh file keys.

The same safety rules as for items (review/keys.py) hold:
- each new record is built and verified in memory (its MAC under the file key, its stanza
  count; re-encrypted ones are also decrypted again and compared), then swapped in by a
  compare-and-swap on the whole old record, so every record is readable at every moment and a
  record changed meanwhile is left alone;
- an interruption loses nothing: re-wrapped rows record whom they are wrapped to
  (`wrapped_to`), so a second run does only what is left; re-encryption just runs again;
- every run, and every re-encrypted record, is in the audit trail (ids, counts, key ids and
  hashes of ciphertext only).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import crypto
from review.audit import AuditTrail
from review.keys import (
    DEFAULT_BATCH,
    KeyRotationError,
    Progress,
    TargetSet,
    _KnownFileKey,
    _NoProgress,
    _stanza_count,
    _wrap_verified,
    channel_target,
    rewrap_each,
    rewrap_header,
)
from review.reencrypt import reencrypt_target
from storage import DEFAULT_CHANNEL, Storage
from storage.triage import RECORD_KINDS, SealedRecordRef, SealedReplacement


class _WitnessOnly(Exception):
    """A message sealed to the witness alone (asked before messages were also sealed to the
    reviewers): no reviewer can open it, so there is nothing to re-wrap."""


def wrapped_to(target: TargetSet) -> str:
    """What `wrapped_to` says of a record wrapped to exactly `target`."""
    return " ".join(target.key_ids)


def _record_target(record: SealedRecordRef, target: TargetSet) -> TargetSet:
    """The recipients a record should be wrapped to: `target`, plus the witness for messages."""
    if record.kind != "witness_message":
        return target
    if record.witness_recipient is None:
        raise KeyRotationError(
            f"message {record.record_id} belongs to a report without a witness recipient; "
            "it cannot have been sent: check the database"
        )
    witness = crypto.parse_recipient(record.witness_recipient)
    return TargetSet((*target.recipients, witness), target.key_ids)


def _split(record: SealedRecordRef) -> tuple[bytes, bytes]:
    header, offset = crypto.split_header(record.sealed)
    if record.kind == "witness_message" and _stanza_count(header) == 1:
        raise _WitnessOnly()
    return header, record.sealed[offset:]


def rewrap_record(
    record: SealedRecordRef, identities: Sequence[crypto.Identity], target: TargetSet
) -> SealedReplacement:
    """The verified compare-and-swap request that re-wraps one record (pure: no I/O).

    Raises crypto.DecryptionError if `identities` cannot open it, _WitnessOnly for a message
    no reviewer was ever meant to read.
    """
    header, payload = _split(record)
    new_header = rewrap_header(header, identities, _record_target(record, target))
    return SealedReplacement(
        record.kind, record.record_id, record.sealed, new_header + payload, wrapped_to(target)
    )


def reencrypt_record(
    record: SealedRecordRef, identities: Sequence[crypto.Identity], target: TargetSet
) -> SealedReplacement:
    """A record sealed again under a fresh file key, checked by decrypting it (pure: no I/O)."""
    header, payload = _split(record)
    plaintext = crypto.open_bytes(header, payload, identities)
    # As for items: sealing to a throwaway identity first recovers the fresh file key, which is
    # then wrapped to the real recipients and verified.
    throwaway = crypto.generate_identity()
    interim, new_payload = crypto.seal_bytes(plaintext, [throwaway.recipient])
    file_key = crypto.header_file_key(interim, [throwaway])
    new_header = _wrap_verified(file_key, interim, _record_target(record, target))
    if crypto.open_bytes(new_header, new_payload, [_KnownFileKey(file_key)]) != plaintext:
        raise crypto.DecryptionError("payload")
    return SealedReplacement(
        record.kind, record.record_id, record.sealed, new_header + new_payload,
        wrapped_to(target),
    )


@dataclass
class RecordsResult:
    target_key_ids: tuple[str, ...]
    pending: int
    done: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RECORD_KINDS, 0))
    # Records this identity could not open; someone holding a key that does runs it again.
    unopenable: int = 0
    # Records changed or deleted by someone else meanwhile; running again picks them up.
    conflicts: int = 0
    # Messages sealed to the witness alone: no reviewer stanza to change.
    witness_only: int = 0

    @property
    def complete(self) -> bool:
        return self.unopenable == 0 and self.conflicts == 0

    def details(self, finished: bool) -> dict[str, object]:
        return {
            "finished": finished,
            "target_key_ids": list(self.target_key_ids),
            "notes": self.done["note"],
            "witness_messages": self.done["witness_message"],
            "unopenable": self.unopenable,
            "conflicts": self.conflicts,
            "witness_only": self.witness_only,
        }


def _rewrap_page(
    page: Sequence[SealedRecordRef],
    identities: Sequence[crypto.Identity],
    target: TargetSet,
    result: RecordsResult,
) -> list[SealedReplacement]:
    replacements, refused = rewrap_each(
        page, lambda record: rewrap_record(record, identities, target), skip=(_WitnessOnly,)
    )
    witness_only = sum(isinstance(error, _WitnessOnly) for error in refused)
    result.witness_only += witness_only
    result.unopenable += len(refused) - witness_only
    return replacements


async def rewrap_records(
    storage: Storage,
    identities: Sequence[crypto.Identity],
    *,
    audit: AuditTrail,
    actor: str,
    progress: Progress | None = None,
    batch_size: int = DEFAULT_BATCH,
    channel: str = DEFAULT_CHANNEL,
) -> RecordsResult:
    """Re-wrap every note and witness message of `channel`'s reports not known to be wrapped
    to exactly that channel's active recipients. Resumable: a swapped row records whom it is
    wrapped to. Other channels' records are not read."""
    progress = progress or _NoProgress()
    target = await channel_target(storage, channel)
    marker = wrapped_to(target)
    counts = [
        await storage.sealed_records.count_for_rewrap(k, marker, channel=channel)
        for k in RECORD_KINDS
    ]
    result = RecordsResult(target.key_ids, sum(counts))
    await audit.record(actor, "keys.rewrap_records.start", None, {
        "target_key_ids": list(target.key_ids), "pending": result.pending,
    })
    progress.start(result.pending)
    try:
        for kind in RECORD_KINDS:
            after = ""
            while page := await storage.sealed_records.for_rewrap(
                kind, marker, after=after, limit=batch_size, channel=channel
            ):
                after = page[-1].record_id
                replacements = await asyncio.to_thread(
                    _rewrap_page, page, identities, target, result
                )
                rejected = await storage.sealed_records.replace(replacements)
                result.conflicts += len(rejected)
                result.done[kind] += len(replacements) - len(rejected)
                progress.advance(len(page))
    except BaseException:
        with contextlib.suppress(Exception):
            await audit.record(actor, "keys.rewrap_records", None, result.details(False))
        raise
    await audit.record(actor, "keys.rewrap_records", None, result.details(True))
    return result


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def reencrypt_records(
    storage: Storage,
    identities: Sequence[crypto.Identity],
    *,
    audit: AuditTrail,
    actor: str,
    key_id: str | None = None,
    progress: Progress | None = None,
    channel: str = DEFAULT_CHANNEL,
) -> RecordsResult:
    """Seal every note and witness message of `channel`'s reports (or those that may be
    wrapped to `key_id`) again under fresh file keys, to that channel's active recipients.
    Running it again is harmless."""
    progress = progress or _NoProgress()
    target = await reencrypt_target(storage, key_id, channel)
    refs = [
        (kind, record_id)
        for kind in RECORD_KINDS
        for record_id in await storage.sealed_records.refs(kind, key_id=key_id, channel=channel)
    ]
    result = RecordsResult(target.key_ids, len(refs))
    await audit.record(actor, "keys.reencrypt_records.start", None, {
        "key_id": key_id, "records": len(refs), "target_key_ids": list(target.key_ids),
    })
    progress.start(len(refs))
    try:
        for kind, record_id in refs:
            await _reencrypt_one(storage, kind, record_id, identities, target, audit, actor,
                                 result)
            progress.advance(1)
    except BaseException:
        with contextlib.suppress(Exception):
            await audit.record(actor, "keys.reencrypt_records", None, result.details(False))
        raise
    await audit.record(actor, "keys.reencrypt_records", None, result.details(True))
    return result


async def _reencrypt_one(
    storage: Storage,
    kind: str,
    record_id: str,
    identities: Sequence[crypto.Identity],
    target: TargetSet,
    audit: AuditTrail,
    actor: str,
    result: RecordsResult,
) -> None:
    record = await storage.sealed_records.get(kind, record_id)
    if record is None:
        return  # shredded with its report meanwhile
    try:
        replacement = await asyncio.to_thread(reencrypt_record, record, identities, target)
    except _WitnessOnly:
        result.witness_only += 1
        return
    except crypto.DecryptionError:
        result.unopenable += 1
        return
    if await storage.sealed_records.replace([replacement]):
        result.conflicts += 1
        return
    await audit.record(actor, f"{kind}.reencrypt", record.report_id, {
        "id": record_id,
        "old_sha256": _sha256(record.sealed),
        "new_sha256": _sha256(replacement.new_sealed),
        "recipient_key_ids": list(target.key_ids),
    })
    result.done[kind] += 1
