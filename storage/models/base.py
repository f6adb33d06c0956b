"""The declarative base and the enumerations the rows use (see storage/models/__init__.py)."""

from __future__ import annotations

import enum

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


# On SQLite, tables whose rows would otherwise be numbered in order of arrival are kept WITHOUT
# ROWID (migration 0004): their B-trees follow the random ids, which say nothing about time.
WITHOUT_ROWID = {"sqlite_with_rowid": False}


class ItemRole(enum.StrEnum):
    """What a sealed item is, structurally; never what it contains."""

    ANSWERS = "answers"
    ATTACHMENT = "attachment"
    # A metadata-stripped copy of an attachment, for sharing; `parent_seq` names the original.
    WORKING_COPY = "working_copy"
    # Something the witness added later with their receipt code (text or a file).
    ADDITION = "addition"


class RecipientKind(enum.StrEnum):
    REVIEWER = "reviewer"
    # The offline recovery key: every report is sealed to it too; nobody reviews with it.
    RECOVERY = "recovery"


class Role(enum.StrEnum):
    REVIEWER = "reviewer"
    ADMIN = "admin"


# The channel every deployment has (migration 0008 moved the data of before channels into it).
DEFAULT_CHANNEL = "default"


