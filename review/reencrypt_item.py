"""Re-encrypting one item, as pure functions of bytes and keys (review/reencrypt.py drives them).

The old payload is decrypted in a worker thread and streamed into a fresh encryption, so no
item is ever whole in memory; the new header is wrapped to the target and verified, and
`verify_reencrypted` decrypts the new payload as written before the old copy is given up.
`rebuild_manifest` re-lists the item in the report's custody manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Final, Protocol

import crypto
from crypto.custody import ManifestEntry, canonical_manifest
from review.keys import KeyRotationError, TargetSet, _KnownFileKey, _wrap_verified


class _Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


class _Cancelled(Exception):
    pass


_END: Final = object()


class _PlaintextPipe:
    """Plaintext handed from the decrypting thread to the encrypting one, a few chunks at a
    time: it never sits in memory whole (attachments may be large) and never touches disk."""

    def __init__(self) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=4)
        self._buffer = bytearray()
        self._finished = False
        self._cancelled = threading.Event()
        self.sha256 = hashlib.sha256()

    # producer side (the decrypting thread)
    def write(self, data: bytes, /) -> int:
        self.sha256.update(data)
        self._put(bytes(data))
        return len(data)

    def finish(self, error: BaseException | None = None) -> None:
        self._put(_END if error is None else error)

    def _put(self, item: object) -> None:
        while not self._cancelled.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Cancelled()

    # consumer side (crypto.seal in the calling thread)
    def read(self, size: int, /) -> bytes:
        while len(self._buffer) < size and not self._finished:
            item = self._queue.get()
            if item is _END:
                self._finished = True
            elif isinstance(item, BaseException):
                self._finished = True
                raise item
            else:
                assert isinstance(item, bytes)
                self._buffer += item
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def cancel(self) -> None:
        self._cancelled.set()


class _HashingReader:
    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.sha256 = hashlib.sha256()

    def read(self, size: int, /) -> bytes:
        data = self._source.read(size)
        self.sha256.update(data)
        return data


@dataclass(frozen=True)
class ReencryptedPayload:
    new_header: bytes
    old_payload_sha256: str
    plaintext_sha256: str
    _file_key: bytes = field(repr=False)


def reencrypt_payload(
    header: bytes,
    payload_in: BinaryIO,
    payload_out: _Writable,
    identities: Sequence[crypto.Identity],
    target: TargetSet,
) -> ReencryptedPayload:
    """Decrypt one item and encrypt it again under a fresh file key, streaming.

    The new payload goes to `payload_out`; the returned header wraps the new file key to
    `target` and is verified. Raises crypto.DecryptionError if `identities` cannot open the
    item or its payload is damaged; whatever was written to `payload_out` must then be
    discarded.
    """
    old_key = crypto.header_file_key(header, identities)
    reader = _HashingReader(payload_in)
    pipe = _PlaintextPipe()

    def decrypt() -> None:
        try:
            crypto.open_sealed(header, reader, pipe, [_KnownFileKey(old_key)])
        except _Cancelled:
            return
        except BaseException as error:
            with contextlib.suppress(_Cancelled):
                pipe.finish(error)
            return
        with contextlib.suppress(_Cancelled):
            pipe.finish()

    # crypto.seal picks the fresh file key and does not return it; sealing to a throwaway
    # identity first lets us recover it, then wrap it to the real recipients and verify.
    throwaway = crypto.generate_identity()
    worker = threading.Thread(target=decrypt, name="reencrypt-decrypt", daemon=True)
    worker.start()
    try:
        interim = crypto.seal(pipe, payload_out, [throwaway.recipient])
    finally:
        pipe.cancel()
        worker.join()
    new_key = crypto.header_file_key(interim, [throwaway])
    return ReencryptedPayload(
        new_header=_wrap_verified(new_key, interim, target),
        old_payload_sha256=reader.sha256.hexdigest(),
        plaintext_sha256=pipe.sha256.hexdigest(),
        _file_key=new_key,
    )


def verify_reencrypted(result: ReencryptedPayload, new_payload: BinaryIO) -> None:
    """Decrypt the new payload as written and check it is the same plaintext, byte for byte.

    Raises crypto.DecryptionError otherwise. Runs before the old copy is given up.
    """
    digest = _DigestSink()
    crypto.open_sealed(result.new_header, new_payload, digest, [_KnownFileKey(result._file_key)])
    if digest.sha256.hexdigest() != result.plaintext_sha256:
        raise crypto.DecryptionError("payload")


class _DigestSink:
    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes, /) -> int:
        self.sha256.update(data)
        return len(data)


def rebuild_manifest(manifest: bytes, seq: int, payload_size: int, payload_sha256: str) -> bytes:
    """The custody manifest with one item's payload size and hash replaced."""
    document = json.loads(manifest)
    entries = [
        ManifestEntry(e["seq"], e["role"], e["payload_size"], e["payload_sha256"])
        for e in document["items"]
    ]
    if sum(e.seq == seq for e in entries) != 1:
        raise KeyRotationError(
            f"the custody manifest of report {document.get('report')} does not list item {seq} "
            "exactly once: check it with `intake review show` before re-encrypting"
        )
    entries = [
        ManifestEntry(e.seq, e.role, payload_size, payload_sha256) if e.seq == seq else e
        for e in entries
    ]
    return canonical_manifest(document["report"], document["received_day"], entries)


def manifest_lists(manifest: bytes, seq: int, payload_sha256: str, payload_size: int) -> bool:
    for entry in json.loads(manifest)["items"]:
        if entry["seq"] == seq:
            return bool(
                entry["payload_sha256"] == payload_sha256
                and entry["payload_size"] == payload_size
            )
    return False
