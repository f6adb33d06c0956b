"""Re-encryption, for a key that was compromised while ciphertext may also have leaked.

Whoever holds that key and a copy of an old payload can read it whatever the header says, so
each affected item gets a fresh file key and a new payload, and the old payload is deleted.
`reencrypt_payload` and `verify_reencrypted` (review/reencrypt_item.py) are pure functions of
bytes and keys; `reencrypt_store` drives them against a local Storage, with the safety rules
review/keys.py states for both drivers (verify, then compare-and-swap; resumable through a plan
file; audited).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import crypto
from crypto.custody import (
    custody_public_key,
    sign_manifest,
    verify_manifest,
)
from review.audit import AuditTrail
from review.keys import (
    KeyRotationError,
    Progress,
    TargetSet,
    _channel_detail,
    _NoProgress,
    channel_target,
)
from review.reencrypt_item import (
    ReencryptedPayload,
    manifest_lists,
    rebuild_manifest,
    reencrypt_payload,
    verify_reencrypted,
)
from storage import DEFAULT_CHANNEL, NewItem, Storage, StoredItem
from storage.header_swaps import HeaderConflictError, ItemNotFoundError, header_sha256
from storage.payload_swaps import PayloadReplacement
from storage.rotation_items import ItemRef

_KEY_ID: Final = re.compile(r"[0-9a-f]{16}")
PLAN_FORMAT: Final = "incident-intake/reencrypt-plan/v1"


@dataclass
class ReencryptResult:
    key_id: str | None
    target_key_ids: tuple[str, ...]
    planned: int
    resumed: bool
    reencrypted: int = 0
    already_done: int = 0
    unopenable: int = 0
    conflicts: int = 0
    # "report_id:seq" of items whose stored payload does not match the signed manifest: they
    # are left untouched (re-signing would launder tampering) and need a human to look.
    custody_failures: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.unopenable or self.conflicts or self.custody_failures)


def _read_plan(path: Path) -> tuple[str | None, list[ItemRef]] | None:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise KeyRotationError(
            f"the re-encryption plan {path} is damaged: delete it and run the command again "
            "(items already re-encrypted are then done again, harmlessly)"
        ) from None
    if document.get("format") != PLAN_FORMAT:
        raise KeyRotationError(f"{path} is not a re-encryption plan: move it away")
    return document["key_id"], [ItemRef(r, s, i) for r, s, i in document["items"]]


def _write_plan(path: Path, key_id: str | None, refs: Sequence[ItemRef]) -> None:
    document = {
        "format": PLAN_FORMAT,
        "key_id": key_id,
        "items": [[r.report_id, r.seq, r.item_id] for r in refs],
    }
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(document, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _blob_sha256(storage: Storage, name: str) -> str:
    digest = hashlib.sha256()
    with storage.blobs.open(name) as blob:
        for chunk in iter(lambda: blob.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _forget_plan(path: Path) -> None:
    path.unlink(missing_ok=True)


def _reencrypt_blob(
    storage: Storage,
    item: StoredItem,
    identities: Sequence[crypto.Identity],
    target: TargetSet,
) -> tuple[str, ReencryptedPayload, int, str]:
    """Write and sync the new blob and verify it; (new item id, result, size, sha256)."""
    new_id = secrets.token_hex(16)
    with storage.blobs.open(item.item_id) as source, storage.blobs.create(new_id) as blob:
        # An exception here discards the half-written blob (BlobWriter.__exit__).
        result = reencrypt_payload(item.header, source, blob, identities, target)
    try:
        with storage.blobs.open(new_id) as written:
            verify_reencrypted(result, written)
    except BaseException:
        storage.blobs.delete(new_id)
        raise
    return new_id, result, blob.size, blob.sha256_hex


def check_key_id(key_id: str | None) -> None:
    """A key id as `intake reviewer list` shows it; KeyRotationError naming the form otherwise."""
    if key_id is not None and not _KEY_ID.fullmatch(key_id):
        raise KeyRotationError(
            "a key id is 16 lowercase hexadecimal characters, as shown by `intake reviewer list`"
        )


async def reencrypt_target(storage: Storage, key_id: str | None, channel: str) -> TargetSet:
    """The channel's active recipients, to seal new copies to; refused while `key_id` (the key
    being retired) is still one of them."""
    check_key_id(key_id)
    target = await channel_target(storage, channel)
    if key_id is not None and key_id in target.key_ids:
        raise KeyRotationError(
            f"key {key_id} is still an active recipient, so new copies would be sealed to it "
            "again: remove it first with `intake reviewer remove NAME`"
        )
    return target


async def reencrypt_store(
    storage: Storage,
    identities: Sequence[crypto.Identity],
    *,
    audit: AuditTrail,
    actor: str,
    custody_key: bytes,
    plan_path: Path,
    key_id: str | None = None,
    progress: Progress | None = None,
    channel: str = DEFAULT_CHANNEL,
) -> ReencryptResult:
    """Re-encrypt every item (or those wrapped to `key_id`) under fresh file keys. Resumable.

    Per item: the new payload is written under a new item id (the blob name) and synced,
    checked by decrypting it, then one transaction swaps the item row (id, header, size,
    hash, key ids) and the re-signed custody manifest; only then is the old blob deleted.
    The list of items to do is kept in `plan_path` until the run completes, so a run that
    is interrupted continues where it stopped, and deletes any old blob it left behind.
    """
    progress = progress or _NoProgress()
    # One channel at a time: its items get its recipients, never another channel's.
    target = await reencrypt_target(storage, key_id, channel)
    custody_public = custody_public_key(custody_key)
    plan = _read_plan(plan_path)
    resumed = plan is not None
    if plan is not None:
        if plan[0] != key_id:
            wanted = f"--key-id {plan[0]}" if plan[0] else "no --key-id"
            raise KeyRotationError(
                f"an unfinished re-encryption is recorded in {plan_path}: run the command again "
                f"with {wanted} to finish it, or delete that file to start a different one"
            )
        refs = plan[1]
        # A plan written for another channel would re-seal its items to this channel's keys.
        # (A report shredded meanwhile has no channel any more; its items are skipped as before.)
        found = {await storage.reports.channel_of(r) for r in {ref.report_id for ref in refs}}
        if found - {channel, None}:
            raise KeyRotationError(
                f"the unfinished re-encryption in {plan_path} is not of channel {channel!r}: "
                "run it again with the --channel it was started with"
            )
    else:
        refs = await storage.reports.item_refs(key_id=key_id, channel=channel)
        _write_plan(plan_path, key_id, refs)
    result = ReencryptResult(key_id, target.key_ids, len(refs), resumed)
    await audit.record(actor, "keys.reencrypt.start", None, {
        "key_id": key_id, "items": len(refs), "resumed": resumed,
        "target_key_ids": list(target.key_ids), **_channel_detail(channel),
    })
    progress.start(len(refs))
    try:
        for ref in refs:
            await _reencrypt_one(
                storage, ref, identities, target, audit, actor, custody_key, custody_public,
                result,
            )
            progress.advance(1)
    except BaseException:
        with contextlib.suppress(Exception):
            await audit.record(actor, "keys.reencrypt", None, _reencrypt_details(result, False))
        raise
    if result.complete:
        _forget_plan(plan_path)
    await audit.record(actor, "keys.reencrypt", None, _reencrypt_details(result, True))
    return result


async def _reencrypt_one(
    storage: Storage,
    ref: ItemRef,
    identities: Sequence[crypto.Identity],
    target: TargetSet,
    audit: AuditTrail,
    actor: str,
    custody_key: bytes,
    custody_public: bytes,
    result: ReencryptResult,
) -> None:
    report = await storage.reports.get(ref.report_id)
    item = None if report is None else next(
        (i for i in report.items if i.seq == ref.seq), None
    )
    if report is None or item is None or item.item_id != ref.item_id:
        # Done by an earlier, interrupted run (or shredded since): only its old blob may be
        # left over, if that run stopped between the swap and the deletion.
        storage.blobs.delete(ref.item_id)
        result.already_done += 1
        return
    where = f"{ref.report_id}:{ref.seq}"
    if not verify_manifest(custody_public, report.manifest, report.manifest_signature) or (
        not manifest_lists(report.manifest, item.seq, item.payload_sha256, item.payload_size)
    ):
        result.custody_failures.append(where)
        return
    try:
        new_id, sealed, size, sha256 = await asyncio.to_thread(
            _reencrypt_blob, storage, item, identities, target
        )
    except crypto.DecryptionError:
        # A payload that fails to decrypt may simply not be ours to open, or it was altered:
        # the signed hash tells which.
        if await asyncio.to_thread(_blob_sha256, storage, item.item_id) != item.payload_sha256:
            result.custody_failures.append(where)
        else:
            result.unopenable += 1
        return
    except FileNotFoundError:
        # The payload blob is missing: custody is already broken; nothing to re-encrypt.
        result.custody_failures.append(where)
        return
    if sealed.old_payload_sha256 != item.payload_sha256:
        # The blob on disk is not the one the manifest signed: keep it for investigation.
        storage.blobs.delete(new_id)
        result.custody_failures.append(where)
        return
    new_manifest = rebuild_manifest(report.manifest, item.seq, size, sha256)
    replacement = PayloadReplacement(
        report_id=ref.report_id,
        seq=item.seq,
        expected_item_id=item.item_id,
        expected_header_sha256=header_sha256(item.header),
        new_item=NewItem(
            item_id=new_id,
            seq=item.seq,
            role=item.role,
            header=sealed.new_header,
            payload_size=size,
            payload_sha256=sha256,
            recipient_key_ids=target.key_ids,
            parent_seq=item.parent_seq,
        ),
        expected_manifest=report.manifest,
        new_manifest=new_manifest,
        new_manifest_signature=sign_manifest(custody_key, new_manifest),
    )
    try:
        await storage.reports.replace_payload(replacement)
    except (HeaderConflictError, ItemNotFoundError):
        storage.blobs.delete(new_id)
        result.conflicts += 1
        return
    await audit.record(actor, "item.reencrypt", ref.report_id, {
        "seq": item.seq,
        "old_payload_sha256": item.payload_sha256,
        "new_payload_sha256": sha256,
        "recipient_key_ids": list(target.key_ids),
    })
    storage.blobs.delete(item.item_id)
    result.reencrypted += 1


def _reencrypt_details(result: ReencryptResult, finished: bool) -> dict[str, object]:
    return {
        "finished": finished,
        "key_id": result.key_id,
        "reencrypted": result.reencrypted,
        "already_done": result.already_done,
        "unopenable": result.unopenable,
        "conflicts": result.conflicts,
        "custody_failures": len(result.custody_failures),
    }
