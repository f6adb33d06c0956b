"""Sealed drafts: daily keys, bound to purpose and row, opaque failures, key files."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from crypto import DecryptionError
from crypto.drafts import DraftKeyFileError, DraftKeyring

SECRET = bytes(range(32))
DAY = dt.date(2026, 11, 28)
CHAT = "a" * 64


def _keyring(secret: bytes = SECRET) -> DraftKeyring:
    return DraftKeyring.from_secret(secret)


def test_round_trip_on_the_day_and_within_the_lifetime() -> None:
    """What is sealed on a day opens that day and for `lifetime_days` days after."""
    keyring = _keyring()
    sealed = keyring.seal("draft", CHAT, b"half-written answers", day=DAY)
    assert keyring.open("draft", CHAT, sealed, day=DAY) == b"half-written answers"
    next_day = DAY + dt.timedelta(days=1)
    assert keyring.open("draft", CHAT, sealed, day=next_day) == b"half-written answers"
    in_three = DAY + dt.timedelta(days=3)
    assert keyring.open("draft", CHAT, sealed, day=in_three, lifetime_days=3) == (
        b"half-written answers"
    )
    assert keyring.open("draft", CHAT, sealed, day=DAY, lifetime_days=0) == b"half-written answers"


def test_another_keyring_with_the_same_secret_opens_it() -> None:
    """A restarted process or another worker with the same secret reads the same rows."""
    sealed = _keyring().seal("outbox", CHAT, b"receipt", day=DAY)
    assert _keyring(bytes(SECRET)).open("outbox", CHAT, sealed, day=DAY) == b"receipt"


def test_empty_plaintext_round_trips() -> None:
    keyring = _keyring()
    assert keyring.open("draft", CHAT, keyring.seal("draft", CHAT, b"", day=DAY), day=DAY) == b""


@pytest.mark.parametrize(
    ("purpose", "row", "day_offset", "secret"),
    [
        ("outbox", CHAT, 0, SECRET),  # a draft replayed as an outbox row
        ("draft", "b" * 64, 0, SECRET),  # moved to another chat's row
        ("draft", CHAT, -1, SECRET),  # opened as if sealed the day before
        ("draft", CHAT, 2, SECRET),  # older than the lifetime: expired
        ("draft", CHAT, 0, b"\x01" * 32),  # another deployment's secret
    ],
    ids=["purpose", "row", "earlier-day", "expired", "secret"],
)
def test_opening_anywhere_else_fails_opaquely(
    purpose: str, row: str, day_offset: int, secret: bytes
) -> None:
    """Wrong purpose, row, day or secret: the same opaque DecryptionError."""
    sealed = _keyring().seal("draft", CHAT, b"answers", day=DAY)
    with pytest.raises(DecryptionError) as caught:
        _keyring(secret).open(
            purpose, row, sealed, day=DAY + dt.timedelta(days=day_offset), lifetime_days=1
        )
    assert "answers" not in str(caught.value)


def test_old_days_expire_with_a_lifetime_of_zero() -> None:
    keyring = _keyring()
    sealed = keyring.seal("draft", CHAT, b"x", day=DAY)
    with pytest.raises(DecryptionError):
        keyring.open("draft", CHAT, sealed, day=DAY + dt.timedelta(days=1), lifetime_days=0)


def test_any_tampering_fails() -> None:
    """Flipping any single bit, truncating or extending the sealed bytes is detected."""
    keyring = _keyring()
    sealed = keyring.seal("draft", CHAT, b"some answers to protect", day=DAY)
    for index in range(len(sealed)):
        for bit in (0x01, 0x80):
            damaged = bytearray(sealed)
            damaged[index] ^= bit
            with pytest.raises(DecryptionError):
                keyring.open("draft", CHAT, bytes(damaged), day=DAY)
    for broken in (sealed[:-1], sealed + b"\x00", b"", sealed[:20]):
        with pytest.raises(DecryptionError):
            keyring.open("draft", CHAT, broken, day=DAY)


def test_sealed_bytes_do_not_repeat_or_name_the_day() -> None:
    """Two seals of the same text differ (random nonce) and have the same length on any day."""
    keyring = _keyring()
    first = keyring.seal("draft", CHAT, b"same", day=DAY)
    second = keyring.seal("draft", CHAT, b"same", day=DAY)
    other_day = keyring.seal("draft", CHAT, b"same", day=DAY + dt.timedelta(days=40))
    assert first != second
    assert len(first) == len(second) == len(other_day) == len(b"same") + 29
    assert first[:1] == other_day[:1] == b"\x01"


def test_pseudonyms_are_stable_and_differ_per_secret() -> None:
    """The chat pseudonym and the update mark depend on the secret and on every input."""
    one, same, other = _keyring(), _keyring(bytes(SECRET)), _keyring(b"\x02" * 40)
    assert one.chat_key(123456789) == same.chat_key(123456789)
    assert len(one.chat_key(123456789)) == 64
    assert int(one.chat_key(-100123), 16) >= 0
    assert one.chat_key(123456789) != other.chat_key(123456789)
    assert one.chat_key(123456789) != one.chat_key(123456788)
    assert "123456789" not in one.chat_key(123456789)
    assert one.update_key(42, 7) == same.update_key(42, 7)
    assert len(one.update_key(42, 7)) == 32
    assert one.update_key(42, 7) != other.update_key(42, 7)
    assert one.update_key(42, 7) != one.update_key(42, 8)
    assert one.update_key(42, 17) != one.update_key(421, 7)


def test_no_secret_bytes_in_any_output() -> None:
    secret = os.urandom(48)
    keyring = _keyring(secret)
    outputs = [
        keyring.seal("draft", CHAT, b"\x00" * 256, day=DAY),
        keyring.chat_key(1).encode(),
        bytes.fromhex(keyring.chat_key(1)),
        keyring.update_key(1, 2),
        repr(keyring).encode(),
    ]
    for output in outputs:
        for start in range(0, len(secret) - 8):
            assert secret[start : start + 8] not in output
    assert secret.hex() not in repr(keyring)


def test_short_secrets_are_refused_naming_the_fix() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        DraftKeyring.from_secret(b"x" * 31)


def test_ephemeral_keyrings_are_random() -> None:
    """Two ephemeral keyrings (two runs) cannot read each other's drafts."""
    first, second = DraftKeyring.ephemeral(), DraftKeyring.ephemeral()
    assert first.is_ephemeral
    assert not _keyring().is_ephemeral
    sealed = first.seal("draft", CHAT, b"x", day=DAY)
    assert first.open("draft", CHAT, sealed, day=DAY) == b"x"
    with pytest.raises(DecryptionError):
        second.open("draft", CHAT, sealed, day=DAY)
    assert first.chat_key(5) != second.chat_key(5)


def test_generated_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "draft.key"
    DraftKeyring.generate_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(path.read_bytes()) == 32
    sealed = DraftKeyring.from_file(path).seal("draft", CHAT, b"x", day=DAY)
    before = path.read_bytes()
    with pytest.raises(DraftKeyFileError, match="already exists"):
        DraftKeyring.generate_file(path)
    assert path.read_bytes() == before
    assert DraftKeyring.from_file(path).open("draft", CHAT, sealed, day=DAY) == b"x"


def test_key_file_errors_are_one_line_naming_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "missing.key"
    with pytest.raises(DraftKeyFileError, match="does not exist") as caught:
        DraftKeyring.from_file(missing)
    assert "\n" not in str(caught.value) and "/dev/urandom" in str(caught.value)

    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 16)
    short.chmod(0o600)
    with pytest.raises(DraftKeyFileError, match="16 bytes") as caught:
        DraftKeyring.from_file(short)
    assert "\n" not in str(caught.value)

    for mode in (0o640, 0o604):
        shared = tmp_path / f"shared-{mode:o}.key"
        shared.write_bytes(os.urandom(32))
        shared.chmod(mode)
        with pytest.raises(DraftKeyFileError, match="chmod 600") as caught:
            DraftKeyring.from_file(shared)
        assert "\n" not in str(caught.value)

    owner_read_only = tmp_path / "credential.key"
    owner_read_only.write_bytes(os.urandom(32))
    owner_read_only.chmod(0o400)  # how systemd hands out credentials
    DraftKeyring.from_file(owner_read_only)
