"""Sealing what the bot keeps between updates: drafts, sessions and messages waiting to be sent.

Reports are sealed with age to reviewers' keys, which the server cannot open. A draft is
different: the bot itself must read it back on the witness's next message, so it is sealed with
a symmetric key the server holds *outside* the database (a file, a systemd credential, a compose
secret) or only in memory (`DraftKeyring.ephemeral`). Anyone who copies the database without that
key reads nothing; with it, only what is not older than the draft lifetime, because:

- **Keys rotate daily.** The key of a UTC day is HKDF-SHA256 of the secret with the day in the
  info string. `open` tries the given day and the `lifetime_days` before it and nothing older,
  so a row sealed longer ago than that cannot be opened even by us.
- **Each blob is bound to its place.** The associated data is the purpose (`"draft"`,
  `"outbox"`, ...) and the row key (the chat's pseudonym), so a sealed draft cannot be moved to
  another chat's row or replayed as an outbox message.
- **Nothing in the sealed bytes names the day:** version byte, random nonce, ciphertext and tag.

Rows are keyed by keyed pseudonyms (`chat_key`, `update_key`): stable for one secret, across
restarts and across workers that share it, and unlinkable to a chat id without the secret.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Final

from . import _primitives as primitives
from ._errors import DecryptionError

MIN_SECRET_SIZE: Final = 32
_GENERATED_SIZE: Final = 32
_VERSION: Final = b"\x01"
_NONCE_SIZE: Final = primitives.CHACHA_NONCE_SIZE
_OVERHEAD: Final = len(_VERSION) + _NONCE_SIZE + primitives.CHACHA_TAG_SIZE
_SALT: Final = b"incident-intake/drafts/v1"
_CACHED_DAYS: Final = 16


class DraftKeyFileError(ValueError):
    """The draft key file cannot be used. The message is one line that names the fix."""


def _length_prefixed(*parts: bytes) -> bytes:
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


class DraftKeyring:
    """The secret behind sealed drafts, pseudonyms and idempotency marks.

    The secret itself never leaves this object: not in `repr`, not in any output (every output
    is an HMAC, an HKDF output or a ciphertext).
    """

    __slots__ = ("_chat_pseudonym_key", "_day_keys", "_secret", "_update_mark_key", "is_ephemeral")

    def __init__(self, secret: bytes, *, ephemeral: bool = False) -> None:
        if len(secret) < MIN_SECRET_SIZE:
            raise ValueError(
                f"the draft key must be at least {MIN_SECRET_SIZE} random bytes; "
                f"generate one with `head -c {_GENERATED_SIZE} /dev/urandom > FILE`"
            )
        self._secret = bytes(secret)
        self._chat_pseudonym_key = self._derive(b"chat-pseudonym")
        self._update_mark_key = self._derive(b"update-mark")
        self._day_keys: dict[dt.date, bytes] = {}
        # Memory only: a restart (or another worker) cannot open what this keyring sealed.
        self.is_ephemeral = ephemeral

    def _derive(self, info: bytes) -> bytes:
        return primitives.hkdf_sha256(self._secret, _SALT, info)

    # --- construction -------------------------------------------------------------------

    @classmethod
    def from_secret(cls, secret: bytes) -> DraftKeyring:
        return cls(secret)

    @classmethod
    def from_file(cls, path: Path) -> DraftKeyring:
        """Read a key file: any content of at least 32 bytes, readable by its owner only."""
        try:
            status = path.stat()
        except FileNotFoundError:
            raise DraftKeyFileError(
                f"the draft key file {path} does not exist; create it with "
                f"`umask 077; head -c {_GENERATED_SIZE} /dev/urandom > {path}`"
            ) from None
        except OSError as error:
            raise DraftKeyFileError(
                f"the draft key file {path} cannot be read ({error.strerror}); "
                "check its path and permissions"
            ) from None
        if status.st_mode & 0o077:
            raise DraftKeyFileError(
                f"the draft key file {path} is readable by group or others; "
                f"run `chmod 600 {path}`"
            )
        try:
            secret = path.read_bytes()
        except OSError as error:
            raise DraftKeyFileError(
                f"the draft key file {path} cannot be read ({error.strerror}); "
                "check its owner and permissions"
            ) from None
        if len(secret) < MIN_SECRET_SIZE:
            raise DraftKeyFileError(
                f"the draft key file {path} holds {len(secret)} bytes, fewer than "
                f"{MIN_SECRET_SIZE}; replace it with "
                f"`umask 077; head -c {_GENERATED_SIZE} /dev/urandom > {path}`"
            )
        return cls(secret)

    @classmethod
    def ephemeral(cls) -> DraftKeyring:
        """A random secret kept in memory only: a restart loses every sealed draft."""
        return cls(primitives.random_bytes(_GENERATED_SIZE), ephemeral=True)

    @staticmethod
    def generate_file(path: Path) -> None:
        """Write 32 random bytes to a new file, mode 0600, synced; never overwrite one.

        The bytes are written whole under a temporary name and linked into place, so a worker
        starting at the same moment finds either no file or a complete one.
        """
        if path.exists():
            raise DraftKeyFileError(
                f"the draft key file {path} already exists; it was not replaced "
                "(delete it first only if losing every sealed draft is intended)"
            )
        temporary = path.with_name(f".{path.name}.{primitives.random_bytes(8).hex()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                os.write(fd, primitives.random_bytes(_GENERATED_SIZE))
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise DraftKeyFileError(
                    f"the draft key file {path} already exists; it was not replaced "
                    "(delete it first only if losing every sealed draft is intended)"
                ) from None
        finally:
            temporary.unlink(missing_ok=True)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def __repr__(self) -> str:
        kind = "ephemeral" if self.is_ephemeral else "persistent"
        return f"DraftKeyring({kind}, secret hidden)"

    # --- pseudonyms ---------------------------------------------------------------------

    def chat_key(self, chat_id: int, bot_id: int | None = None) -> str:
        """A keyed pseudonym of the chat: 64 hex characters, the same for every worker.

        `bot_id` is given for every bot but the deployment's own (whose keys stay as they
        were, so drafts in flight survive an upgrade): a Telegram user has the same chat id
        with every bot, and the chats of two bots must never share a row.
        """
        label = b"chat:%d" % chat_id if bot_id is None else b"chat:%d:bot:%d" % (chat_id, bot_id)
        return primitives.hmac_sha256(self._chat_pseudonym_key, label).hex()

    def update_key(self, bot_id: int, update_id: int) -> bytes:
        """The update's idempotency mark: 32 bytes, a keyed hash of bot id and update id."""
        return primitives.hmac_sha256(
            self._update_mark_key, b"update:%d:%d" % (bot_id, update_id)
        )

    # --- sealing ------------------------------------------------------------------------

    def _day_key(self, day: dt.date) -> bytes:
        key = self._day_keys.get(day)
        if key is None:
            key = self._derive(b"day-key/" + day.isoformat().encode("ascii"))
            if len(self._day_keys) >= _CACHED_DAYS:
                self._day_keys.pop(min(self._day_keys))
            self._day_keys[day] = key
        return key

    @staticmethod
    def _associated(purpose: str, row_key: str) -> bytes:
        if not purpose:
            raise ValueError("a sealed row needs a purpose")
        return _VERSION + _length_prefixed(purpose.encode("utf-8"), row_key.encode("utf-8"))

    def seal(self, purpose: str, row_key: str, plaintext: bytes, *, day: dt.date) -> bytes:
        """Encrypt under the key of `day`, bound to `purpose` and `row_key`."""
        associated = self._associated(purpose, row_key)
        nonce = primitives.random_bytes(_NONCE_SIZE)
        sealed = primitives.chacha_seal_with_ad(
            self._day_key(day), nonce, plaintext, associated
        )
        return _VERSION + nonce + sealed

    def open(
        self,
        purpose: str,
        row_key: str,
        sealed: bytes,
        *,
        day: dt.date,
        lifetime_days: int = 1,
    ) -> bytes:
        """Decrypt with the key of `day` or of one of the `lifetime_days` days before it.

        Raises the crypto package's opaque `DecryptionError` for anything else: wrong purpose,
        row, secret, a day outside the window, or damaged bytes.
        """
        if lifetime_days < 0:
            raise ValueError("lifetime_days cannot be negative")
        associated = self._associated(purpose, row_key)
        if len(sealed) < _OVERHEAD or sealed[:1] != _VERSION:
            raise DecryptionError("payload")
        nonce = sealed[1 : 1 + _NONCE_SIZE]
        body = sealed[1 + _NONCE_SIZE :]
        for back in range(lifetime_days + 1):
            key = self._day_key(day - dt.timedelta(days=back))
            opened = primitives.chacha_open_with_ad(key, nonce, body, associated)
            if opened is not None:
                return opened
        raise DecryptionError("payload")


# The purposes the bot seals with; storage-format.md section 9.
PURPOSE_CHAT_STATE: Final = "chat_state"
PURPOSE_OUTBOX: Final = "outbox"
PURPOSE_PARKED_UPDATE: Final = "parked_update"
