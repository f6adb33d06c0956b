"""Key lifecycle on the machine that holds an identity: new keys, re-wrapping (here) and
re-encryption (review/reencrypt.py).

Re-wrapping gives every item's header stanzas for exactly the current recipients (active
reviewers and the recovery key) and leaves the payload alone, byte for byte, so the custody
manifest stays valid. It needs the file key of each item, hence an identity that opens the
reports, so it runs where that identity is, never on the server with the key.

Re-encryption is for a key that was compromised while ciphertext may also have leaked: whoever
holds that key and a copy of the old payload can read it whatever the header says, so the item
gets a fresh file key and a new payload, and the old payload is deleted.

The per-item steps (`rewrap_item`; `reencrypt_payload`, `verify_reencrypted` in
review/reencrypt_item.py) are pure functions of bytes and keys, so a client working against the
reviewer API can use them as they are; `rewrap_store` and `reencrypt_store` (review/reencrypt.py)
drive them against a local Storage.

Safety rules both drivers keep:
- the old header (and payload) stays in place until the new one is verified and swapped in by
  a compare-and-swap in one transaction, so every report is readable at every moment;
- an interruption loses nothing: running the command again finds what is left;
- every run, and every re-encrypted item, is in the audit trail (ids, counts, key ids and
  hashes of ciphertext only, never content).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

import crypto
from review.audit import AuditTrail, report_ref
from storage import DEFAULT_CHANNEL, RecipientRecord, Storage, StoredItem
from storage.header_swaps import (
    HeaderReplacement,
    header_sha256,
)

# How many headers one transaction swaps: large enough that commits (an fsync each on SQLite)
# do not dominate, small enough that an interruption repeats little work.
DEFAULT_BATCH: Final = 200
MIN_PASSPHRASE: Final = 8

_Ref = TypeVar("_Ref")
_Replacement = TypeVar("_Replacement")


class KeyRotationError(Exception):
    """Something the administrator must fix first; the message says how."""


class Progress(Protocol):
    """Where the drivers report progress (the CLI draws a progress bar)."""

    def start(self, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


class _NoProgress:
    def start(self, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


# --- new keys ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewKey:
    recipient: str
    key_id: str
    file_bytes: bytes = field(repr=False)


def new_identity_file(passphrase: str | None, *, now: dt.datetime | None = None) -> NewKey:
    """A fresh reviewer identity as age-keygen writes it, sealed to `passphrase` if given.

    The sealed form is a standard age passphrase file (scrypt, ASCII armour so it can also be
    printed for a backup): `age -d key.age` shows the key, and `age -d -i key.age` decrypts
    reports with it after asking for the passphrase.
    """
    if passphrase is not None and len(passphrase) < MIN_PASSPHRASE:
        raise KeyRotationError(
            f"the passphrase is shorter than {MIN_PASSPHRASE} characters: choose a longer one"
        )
    identity = crypto.generate_identity()
    created = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    text = f"# created: {created}\n# public key: {identity.recipient}\n{identity}\n".encode()
    if passphrase is not None:
        sealed = io.BytesIO()
        crypto.encrypt(io.BytesIO(text), sealed, [crypto.ScryptRecipient(passphrase)], armor=True)
        text = sealed.getvalue()
    recipient = str(identity.recipient)
    return NewKey(recipient, crypto.key_id(recipient), text)


def write_private_file(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 and sync it; never overwrite an existing key."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyRotationError(
            f"{path} already exists: choose another --out, or move the old key away first"
        ) from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


# --- the recipient set -------------------------------------------------------------------


@dataclass(frozen=True)
class TargetSet:
    """The recipients every item should be wrapped to, and their sorted key ids."""

    recipients: tuple[crypto.X25519Recipient, ...]
    key_ids: tuple[str, ...]

    @classmethod
    def of(cls, records: Sequence[RecipientRecord]) -> TargetSet:
        active = sorted((r for r in records if r.active), key=lambda r: r.key_id)
        if not active:
            raise KeyRotationError(
                "no active recipients are registered, so there is nothing to wrap to: "
                "add one with `intake reviewer add` (and `intake keys recovery`) first"
            )
        return cls(
            tuple(crypto.parse_recipient(r.recipient) for r in active),
            tuple(r.key_id for r in active),
        )


class _KnownFileKey(crypto.Identity):
    """An identity that already holds the file key.

    With it `crypto.rewrap` builds a header for recipients we cannot impersonate, and
    `crypto.header_file_key` checks that header's MAC, which proves it carries this file key.
    """

    __slots__ = ("_file_key",)

    def __init__(self, file_key: bytes) -> None:
        self._file_key = file_key

    def unwrap(self, stanzas: Sequence[Any]) -> bytes | None:
        return self._file_key

    def __repr__(self) -> str:
        return "_KnownFileKey(...)"


def _stanza_count(header: bytes) -> int:
    # Every stanza line starts a line with "-> "; the version line and MAC line do not.
    return header.count(b"\n-> ")


def _wrap_verified(file_key: bytes, header: bytes, target: TargetSet) -> bytes:
    known = [_KnownFileKey(file_key)]
    new_header = crypto.rewrap(header, known, target.recipients)
    # Parse the new header strictly and check its MAC under the file key: a header that
    # passes was built with this file key, so whoever unwraps it gets the key that opens the
    # unchanged payload. We cannot unwrap the stanzas themselves (we may not be a recipient).
    if crypto.header_file_key(new_header, known) != file_key:
        raise crypto.DecryptionError("hmac")
    if _stanza_count(new_header) != len(target.recipients):
        raise crypto.DecryptionError("header")
    return new_header


# --- re-wrapping ----------------------------------------------------------------------------


def rewrap_header(
    header: bytes, identities: Sequence[crypto.Identity], target: TargetSet
) -> bytes:
    """A verified new header for the same payload, wrapped to exactly `target`.

    Raises crypto.DecryptionError if `identities` cannot open `header` (or it is damaged).
    """
    return _wrap_verified(crypto.header_file_key(header, identities), header, target)


def rewrap_item(
    report_id: str, item: StoredItem, identities: Sequence[crypto.Identity], target: TargetSet
) -> HeaderReplacement:
    """The compare-and-swap request that re-wraps one stored item (pure: no I/O)."""
    return HeaderReplacement(
        report_id=report_id,
        seq=item.seq,
        expected_old_sha256=header_sha256(item.header),
        new_header=rewrap_header(item.header, identities, target),
        recipient_key_ids=target.key_ids,
    )


@dataclass
class RewrapResult:
    target_key_ids: tuple[str, ...]
    pending: int
    rewrapped: int = 0
    # Headers this identity could not open (not wrapped to it, or damaged): they are left as
    # they are; someone holding a key that opens them (the recovery key) runs rewrap again.
    unopenable: int = 0
    # Items changed or shredded by someone else while we worked; running again picks them up.
    conflicts: int = 0
    channel: str = DEFAULT_CHANNEL

    @property
    def complete(self) -> bool:
        return self.unopenable == 0 and self.conflicts == 0


def rewrap_each(
    refs: Iterable[_Ref],
    rewrap: Callable[[_Ref], _Replacement],
    *,
    skip: tuple[type[Exception], ...] = (),
) -> tuple[list[_Replacement], list[Exception]]:
    """`rewrap` (a verified re-wrap of one stored thing) applied to each of `refs`.

    What it cannot open (crypto.DecryptionError: not wrapped to these identities, or damaged),
    or refuses with one of `skip`, is left as it is and returned among the refusals, for the
    caller to count: someone holding a key that opens it runs the re-wrap again.
    """
    replacements: list[_Replacement] = []
    refused: list[Exception] = []
    refusals: tuple[type[Exception], ...] = (crypto.DecryptionError, *skip)
    for ref in refs:
        try:
            replacements.append(rewrap(ref))
        except refusals as error:
            refused.append(error)
    return replacements, refused


def _rewrap_page(
    page: Sequence[tuple[str, StoredItem]],
    identities: Sequence[crypto.Identity],
    target: TargetSet,
) -> tuple[list[HeaderReplacement], int]:
    replacements, refused = rewrap_each(
        page, lambda entry: rewrap_item(entry[0], entry[1], identities, target)
    )
    return replacements, len(refused)


async def rewrap_store(
    storage: Storage,
    identities: Sequence[crypto.Identity],
    *,
    audit: AuditTrail,
    actor: str,
    progress: Progress | None = None,
    batch_size: int = DEFAULT_BATCH,
    channel: str = DEFAULT_CHANNEL,
) -> RewrapResult:
    """Re-wrap every item of `channel`'s reports not wrapped to exactly that channel's active
    recipients. Resumable. Other channels' items are not read, let alone changed.

    Each page of items is re-wrapped and verified in memory, then swapped in one transaction
    of compare-and-swap updates; payload blobs are never opened.
    """
    progress = progress or _NoProgress()
    target = await channel_target(storage, channel)
    pending = await storage.reports.count_items_for_rewrap(target.key_ids, channel=channel)
    result = RewrapResult(target.key_ids, pending, channel=channel)
    await audit.record(actor, "keys.rewrap.start", None, {
        "target_key_ids": list(target.key_ids), "pending": pending, **_channel_detail(channel),
    })
    progress.start(pending)
    try:
        after = ""
        while page := await storage.reports.items_for_rewrap(
            target.key_ids, after=after, limit=batch_size, channel=channel
        ):
            after = page[-1][1].item_id
            # Re-wrapping is CPU work (X25519); a worker thread keeps the event loop free.
            replacements, unopenable = await asyncio.to_thread(
                _rewrap_page, page, identities, target
            )
            rejected = await storage.reports.replace_headers(replacements)
            refused = {(r.report_id, r.seq) for r in rejected}
            swapped = [r for r in replacements if (r.report_id, r.seq) not in refused]
            if swapped:
                # Which items this page re-wrapped, so each report's chain of custody shows its
                # own re-wraps (review/custody/chain.py); ids and numbers only.
                await audit.record(actor, "keys.rewrap.batch", None, {
                    "target_key_ids": list(target.key_ids),
                    "items": [[report_ref(r.report_id), r.seq] for r in swapped],
                }, per_report=_rewrapped_per_report(swapped, target.key_ids))
            result.unopenable += unopenable
            result.conflicts += len(rejected)
            result.rewrapped += len(replacements) - len(rejected)
            progress.advance(len(page))
    except BaseException:
        # Record how far we got, but never let a failing audit write hide the real error.
        with contextlib.suppress(Exception):
            await audit.record(actor, "keys.rewrap", None, _rewrap_details(result, False))
        raise
    await audit.record(actor, "keys.rewrap", None, _rewrap_details(result, True))
    return result


def _rewrapped_per_report(
    swapped: Sequence[HeaderReplacement], key_ids: Sequence[str]
) -> dict[str, dict[str, object]]:
    """Each report's part of a re-wrap batch, for its own chain of custody."""
    found: dict[str, list[int]] = {}
    for r in swapped:
        found.setdefault(r.report_id, []).append(r.seq)
    return {report_id: {"target_key_ids": list(key_ids), "items": sorted(seqs)}
            for report_id, seqs in found.items()}


async def channel_target(storage: Storage, channel: str) -> TargetSet:
    """The channel's active recipients; one line naming the fix when there are none."""
    if await storage.channels.get(channel) is None:
        raise KeyRotationError(f"there is no channel {channel!r}: see `intake channel list`")
    active = await storage.recipients.active(channel)
    if not active and channel != DEFAULT_CHANNEL:
        raise KeyRotationError(
            f"channel {channel!r} has no active recipients: register one with `intake reviewer "
            f"add --channel {channel} ...` first"
        )
    return TargetSet.of(active)


def _channel_detail(channel: str) -> dict[str, object]:
    """The channel in audit details, left out for `default` (entries read as before)."""
    return {} if channel == DEFAULT_CHANNEL else {"channel": channel}


def _rewrap_details(result: RewrapResult, finished: bool) -> dict[str, object]:
    return {
        "finished": finished,
        "target_key_ids": list(result.target_key_ids),
        "rewrapped": result.rewrapped,
        "unopenable": result.unopenable,
        "conflicts": result.conflicts,
        **_channel_detail(result.channel),
    }


# --- re-encryption -------------------------------------------------------------------------
