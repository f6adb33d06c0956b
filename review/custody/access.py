"""What counts as an access to evidence, and how the reviewer tools record it.

Decryption happens on the reviewer's machine, so it is the reviewer's tool that says "opened"
(a report or file decrypted and shown), "downloaded" (a decrypted file written to the
reviewer's disk) or "exported" (an evidence bundle written). Against a local data directory it
appends to the audit trail itself; with `--server` it POSTs to the reviewer API, which records
it under the credential's name. The server records on its own that it handed out ciphertext
(`access.downloaded` with `"decrypted": false`): that needs no client's word.

Entries name the actor, the report, the items (sequence numbers), note or message ids, how
(`via`: cli, console or api) and nothing of content; their time is the audit trail's own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

import crypto
from review.backend import SealedQuestion

ACCESS_ACTIONS: Final = ("opened", "downloaded", "exported")
# Many reports opened at once (the console's monitoring decrypts the whole queue): one entry per
# chunk, naming items as [SHA-256 of the report id, seq] like the re-wrap batches, so a bundle
# carrying it hands out no other report's id.
BULK_ACTION: Final = "access.opened.batch"
BULK_CHUNK: Final = 500
VIA: Final = ("cli", "console", "api")
# How many items, notes or messages one entry may name: a report has a few dozen at most.
MAX_LISTED: Final = 1000


class AccessError(ValueError):
    """An access record that is not allowed; the message names the rule."""


@runtime_checkable
class BulkAccessRecorder(Protocol):
    """A backend that records many openings in a few entries (LocalBackend, RemoteBackend)."""

    async def record_bulk_access(
        self, items: Sequence[tuple[str, int]], *, via: str = "console"
    ) -> None: ...


def bulk_details(refs: Sequence[tuple[str, int]], via: str) -> dict[str, object]:
    """The details of one bulk entry; `refs` are (report reference, seq), already hashed."""
    if via not in VIA:
        raise AccessError(f"via must be one of: {', '.join(VIA)}")
    if not refs or len(refs) > BULK_CHUNK:
        raise AccessError(f"a bulk access names 1 to {BULK_CHUNK} items")
    return {"via": via, "decrypted": True, "items": sorted([r, s] for r, s in refs)}


def bulk_per_report(
    items: Sequence[tuple[str, int]], via: str
) -> dict[str, dict[str, object]]:
    """Each report's part of a bulk entry, for its own chain: its item numbers only."""
    found: dict[str, list[int]] = {}
    for report_id, seq in items:
        found.setdefault(report_id, []).append(seq)
    return {r: {"via": via, "decrypted": True, "items": sorted(set(s))}
            for r, s in found.items()}


async def record_bulk_access(
    backend: object, items: Sequence[tuple[str, int]], *, via: str = "console"
) -> None:
    """Record that these (report id, seq) items were decrypted here, in chunks."""
    if not items:
        return
    if not isinstance(backend, BulkAccessRecorder):
        raise TypeError(f"{type(backend).__name__} cannot record accesses")
    await backend.record_bulk_access(items, via=via)


@dataclass(frozen=True)
class Access:
    """One access to record, as the reviewer's tool or the API request states it (unchecked:
    `access_details` checks it where it is recorded)."""

    report_id: str
    what: str
    items: Sequence[int] = ()
    notes: Sequence[str] = ()
    messages: Sequence[str] = ()
    via: str = "cli"
    # An export only: the age recipient of the bundle's throwaway disclosure identity, which
    # ties the export entry to that one bundle (docs/custody-chain.md, "Which bundle").
    disclosure: str | None = None

    def named(self) -> bool:
        """Whether it names anything at all (an access of nothing is not recorded)."""
        return bool(self.items or self.notes or self.messages)


@runtime_checkable
class AccessRecorder(Protocol):
    """A backend that records accesses (LocalBackend and RemoteBackend both do)."""

    async def record_access(self, access: Access) -> None: ...


def access_details(access: Access, *, decrypted: bool = True) -> dict[str, object]:
    """The audit details of one access, checked; AccessError naming the rule otherwise."""
    what, via = access.what, access.via
    items, notes, messages = access.items, access.notes, access.messages
    if what not in ACCESS_ACTIONS:
        raise AccessError(f"what must be one of: {', '.join(ACCESS_ACTIONS)}")
    if via not in VIA:
        raise AccessError(f"via must be one of: {', '.join(VIA)}")
    if not access.named():
        raise AccessError("an access names at least one item, note or message")
    for listed in (items, notes, messages):
        if len(listed) > MAX_LISTED:
            raise AccessError(f"an access names at most {MAX_LISTED} items, notes or messages")
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 10**6 for s in items):
        raise AccessError("items are item sequence numbers (small whole numbers)")
    for ids in (notes, messages):
        if not all(isinstance(i, str) and len(i) == 32 and _hex(i) for i in ids):
            raise AccessError("note and message ids are 32 lowercase hexadecimal characters")
    details: dict[str, object] = {"via": via, "decrypted": decrypted}
    if access.disclosure is not None:
        details["disclosure"] = _disclosure_recipient(what, access.disclosure)
    if items:
        details["items"] = sorted(set(items))
    if notes:
        details["notes"] = sorted(set(notes))
    if messages:
        details["messages"] = sorted(set(messages))
    return details


def _disclosure_recipient(what: str, recipient: object) -> str:
    if what != "exported":
        raise AccessError("only an export names a bundle's disclosure recipient")
    if not isinstance(recipient, str) or len(recipient) > 100:
        raise AccessError("disclosure is the bundle's age1... disclosure recipient")
    try:
        return str(crypto.parse_recipient(recipient))
    except crypto.InvalidKeyError:
        raise AccessError("disclosure is the bundle's age1... disclosure recipient") from None


# Who received an exported bundle, as the reviewer types it: a name and an organisation.
MAX_RECIPIENT_TEXT: Final = 200


def transfer_details(to: str, bundle_sha256: str) -> dict[str, object]:
    """The details of an `access.transferred` entry: to whom (free text, one line), and the
    SHA-256 of the bundle's SHA256SUMS, which lists every file of the bundle."""
    if not isinstance(to, str) or not to.strip() or len(to) > MAX_RECIPIENT_TEXT:
        raise AccessError(
            f"say to whom the bundle goes: 1 to {MAX_RECIPIENT_TEXT} characters (--to)"
        )
    if any(ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0 or c in "\u2028\u2029" for c in to):
        raise AccessError("the recipient of a bundle is one line of text, no control characters")
    if not (isinstance(bundle_sha256, str) and len(bundle_sha256) == 64 and _hex(bundle_sha256)):
        raise AccessError("bundle_sha256 is 64 lowercase hexadecimal characters")
    return {"to": to.strip(), "bundle_sha256": bundle_sha256}


# The bundle's list of every file and its SHA-256 (review/evidence/bundle.py finish_bundle):
# its own SHA-256 stands for the whole bundle in a transfer record.
SUMS_FILE: Final = "SHA256SUMS"


@runtime_checkable
class TransferRecorder(Protocol):
    """A backend that records the hand-over of a bundle (LocalBackend and RemoteBackend)."""

    async def record_transfer(self, report_id: str, to: str, bundle_sha256: str) -> None: ...


def check_transfer(to: str) -> None:
    """AccessError naming the rule if `to` cannot be recorded (before a bundle is written)."""
    transfer_details(to, "0" * 64)


async def record_transfer(backend: object, report_id: str, to: str, sums: bytes) -> None:
    """Record that the bundle whose SHA256SUMS is `sums` was handed to `to` by the actor."""
    if not isinstance(backend, TransferRecorder):
        raise TypeError(f"{type(backend).__name__} cannot record transfers")
    await backend.record_transfer(report_id, to, hashlib.sha256(sums).hexdigest())


def _hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


async def record_access(
    backend: object,
    report_id: str,
    what: str,
    *,
    items: Sequence[int] = (),
    notes: Sequence[str] = (),
    messages: Sequence[str] = (),
    via: str = "cli",
    disclosure: str | None = None,
) -> None:
    """Record an access through `backend`, if anything was accessed.

    Every backend of ours records; a backend that cannot (a test double, an older server) is a
    programming error, so this raises rather than silently skipping the record.
    """
    access = Access(report_id, what, items, notes, messages, via, disclosure)
    if not access.named():
        return
    if not isinstance(backend, AccessRecorder):
        raise TypeError(f"{type(backend).__name__} cannot record accesses")
    await backend.record_access(access)


class _MessageSource(Protocol):
    async def witness_messages(self, report_id: str) -> list[SealedQuestion]: ...


async def opened_message_ids(
    backend: _MessageSource, report_id: str, identities: Sequence[crypto.Identity]
) -> list[str]:
    """Ids of the messages for the witness that `identities` open (they are shown with the
    report, so they are recorded as opened with it)."""
    opened = []
    for message in await backend.witness_messages(report_id):
        try:
            header, offset = crypto.split_header(message.sealed)
            crypto.open_bytes(header, message.sealed[offset:], identities)
        except crypto.DecryptionError:
            continue
        opened.append(message.message_id)
    return opened
