"""Opening the store: engine, schema migrations, repositories and the blob directory."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage.blobs import BlobStore
from storage.locks import ChatLocks
from storage.transactions import Transactions

if TYPE_CHECKING:
    from alembic.config import Config

    from storage.additions import AdditionRepository
    from storage.audit import AuditRepository
    from storage.channels import ChannelRepository
    from storage.conversations import ConversationRepository
    from storage.credentials import CredentialRepository
    from storage.evidence import EvidenceRepository
    from storage.health import HealthQueries
    from storage.orphans import OrphanSweeper
    from storage.parked import ParkedUpdateRepository
    from storage.queue import QueueRepository
    from storage.recipients import RecipientRepository
    from storage.renewals import RenewalRepository
    from storage.repositories import ReportRepository
    from storage.send_budget import SharedSendBudget
    from storage.triage import SealedRecordRepository, TriageRepository

_MIGRATIONS = Path(__file__).with_name("migrations")
# PostgreSQL connections a Storage (a worker) keeps for its transactions (INTAKE_DATABASE_
# CONNECTIONS); on top of them one holds its chat locks (storage/locks.py) and, with payloads in
# the database, up to _PAYLOAD_CONNECTIONS * 2 its payloads. 5 + 1 + 4 = 10 a worker: eight
# workers stay under PostgreSQL's default max_connections of 100 (3 of which are reserved).
DEFAULT_CONNECTIONS = 5
_PAYLOAD_CONNECTIONS = 2
# How long a transaction waits for a free connection before the update fails (and is retried).
_POOL_WAIT = 30
_REVISION = re.compile(r'^revision(?::\s*str)?\s*=\s*"([^"]+)"', re.MULTILINE)
_DOWN_REVISION = re.compile(r'^down_revision(?::[^=]*)?=\s*"([^"]+)"', re.MULTILINE)


def default_sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / 'intake.db').resolve()}"


def _private_sqlite_file(path: Path) -> None:
    """The database file (and SQLite's -wal and -shm beside it, which take its mode) 0600 in a
    0700 folder, whatever the umask; one an older version made 0644 is made 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # empty: valid
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the reviewer CLI) work while the bot writes; synchronous=FULL makes a
    # committed report survive power loss, not only a process crash; secure_delete overwrites
    # freed pages so shredded headers do not linger in the file.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# SQLite's page cache per connection, in KiB (its default is 2 MiB). In WAL mode a connection
# drops its whole cache whenever another one has written since its last read. The hot path
# writes through storage/transactions.py's one connection, whose cache stays valid and holds
# what an update touches (the B-trees' inner pages, the rows of the chats in flight); the
# asyncio engine's connections (sweeps, health, parking) find theirs stale nearly every time.
# At SQLite's default they held about 2.7 MB of a surge of 10,000 drafts (bench/drafts_memory.py).
_HOT_PATH_CACHE_KIB = 512
_ASYNC_CACHE_KIB = 128


def _cache_size(kib: int) -> Callable[[Any, Any], None]:
    def pragmas(dbapi_connection: Any, record: Any) -> None:
        _sqlite_pragmas(dbapi_connection, record)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA cache_size=-{kib}")
        cursor.close()

    return pragmas


def _head_revision() -> str | None:
    """The newest migration's id, read from the files (importing alembic costs ~0.3 s).

    None unless the revisions form exactly one chain head; then Alembic decides.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (_MIGRATIONS / "versions").glob("*.py"):
        source = script.read_text(encoding="utf-8")
        revisions.update(_REVISION.findall(source))
        parents.update(_DOWN_REVISION.findall(source))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _schema_is_current(connection: Connection) -> bool:
    """Whether the database already carries the newest revision: one cheap query."""
    head = _head_revision()
    if head is None:
        return False
    try:
        found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:
        return False  # no version table yet: a new database
    return [row[0] for row in found] == [head]


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


# pg_advisory_xact_lock key for schema migrations: workers starting together migrate in turn.
_MIGRATION_LOCK = 0x696E74616B650003  # "intake" and 0003


def _upgrade(connection: Connection) -> None:
    from alembic import command

    if connection.dialect.name == "postgresql":
        # Held until this transaction ends: the next worker then finds the schema up to date.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
    command.upgrade(_alembic_config(connection), "head")


class Storage:
    """The server's store. Holds ciphertext and allowlisted metadata; cannot decrypt."""

    def __init__(
        self, engine: AsyncEngine, blobs: BlobStore, *, lock_engine: AsyncEngine | None = None
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self._lock_engine = lock_engine
        self._locks = ChatLocks(lock_engine)
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # The hot path's transactions, each in one hop (storage/transactions.py).
        self.transactions = Transactions(
            engine,
            on_connect=(_cache_size(_HOT_PATH_CACHE_KIB) if engine.dialect.name == "sqlite"
                        else None),
        )

    # Each repository's module is imported when the repository is first used: a command such as
    # `intake review list` then loads the queue's code, not the bot's conversations (with the
    # PostgreSQL dialect they use) nor the evidence or payload-table code (bench/cli_startup.py).

    @functools.cached_property
    def conversations(self) -> ConversationRepository:
        from storage.conversations import ConversationRepository

        return ConversationRepository(self._sessions, self.transactions)

    @functools.cached_property
    def parked_updates(self) -> ParkedUpdateRepository:
        from storage.parked import ParkedUpdateRepository

        return ParkedUpdateRepository(self._sessions)

    @functools.cached_property
    def _orphans(self) -> OrphanSweeper:
        from storage.orphans import OrphanSweeper

        return OrphanSweeper(self._sessions, self.blobs)

    @functools.cached_property
    def reports(self) -> ReportRepository:
        from storage.repositories import ReportRepository

        return ReportRepository(self._sessions)

    @functools.cached_property
    def recipients(self) -> RecipientRepository:
        from storage.recipients import RecipientRepository

        return RecipientRepository(self._sessions)

    @functools.cached_property
    def audit(self) -> AuditRepository:
        from storage.audit import AuditRepository

        return AuditRepository(self._sessions)

    @functools.cached_property
    def additions(self) -> AdditionRepository:
        from storage.additions import AdditionRepository

        return AdditionRepository(self._sessions)

    @functools.cached_property
    def triage(self) -> TriageRepository:
        from storage.triage import TriageRepository

        return TriageRepository(self._sessions)

    @functools.cached_property
    def sealed_records(self) -> SealedRecordRepository:
        from storage.triage import SealedRecordRepository

        return SealedRecordRepository(self._sessions)

    @functools.cached_property
    def queue(self) -> QueueRepository:
        from storage.queue import QueueRepository

        return QueueRepository(self._sessions)

    @functools.cached_property
    def credentials(self) -> CredentialRepository:
        from storage.credentials import CredentialRepository

        return CredentialRepository(self._sessions)

    @functools.cached_property
    def channels(self) -> ChannelRepository:
        from storage.channels import ChannelRepository

        return ChannelRepository(self._sessions)

    @functools.cached_property
    def evidence(self) -> EvidenceRepository:
        from storage.evidence import EvidenceRepository

        return EvidenceRepository(self._sessions)

    @functools.cached_property
    def renewals(self) -> RenewalRepository:
        from storage.renewals import RenewalRepository

        return RenewalRepository(self._sessions)

    @functools.cached_property
    def health(self) -> HealthQueries:
        from storage.health import HealthQueries

        return HealthQueries(self._sessions)

    @classmethod
    async def open(
        cls,
        database_url: str,
        blob_dir: Path,
        *,
        migrate: bool = True,
        connections: int = DEFAULT_CONNECTIONS,
        payloads: Literal["directory", "database"] = "directory",
    ) -> Storage:
        """Connect, bring the schema up to date and return a ready store.

        On PostgreSQL at most `connections` connections carry transactions; one more, apart,
        holds the per-chat advisory locks (`chat_lock`). `payloads="database"` (PostgreSQL
        only) keeps new payloads in the database, where every worker reaches them; `blob_dir`
        is then still read for payloads written before the switch.
        """
        url = make_url(database_url)
        is_sqlite = url.get_backend_name() == "sqlite"
        if payloads == "database" and url.get_backend_name() != "postgresql":
            raise ValueError(
                "payloads can only be kept in the database with PostgreSQL; "
                "use the payload directory with SQLite"
            )
        if is_sqlite and url.database and url.database != ":memory:":
            _private_sqlite_file(Path(url.database))
        if is_sqlite:
            engine = create_async_engine(url)
        else:
            engine = create_async_engine(url, pool_pre_ping=True, pool_size=connections,
                                         max_overflow=0, pool_timeout=_POOL_WAIT)
        if is_sqlite:
            event.listen(engine.sync_engine, "connect", _cache_size(_ASYNC_CACHE_KIB))
        if migrate:
            # Read-only commands on a current schema never import or run Alembic.
            async with engine.connect() as connection:
                current = await connection.run_sync(_schema_is_current)
            if not current:
                async with engine.begin() as connection:
                    await connection.run_sync(_upgrade)
        lock_engine = None
        if url.get_backend_name() == "postgresql":
            # One connection for every chat lock; a second only while the first is replaced.
            lock_engine = create_async_engine(url, pool_size=1, max_overflow=1)
        blobs = BlobStore(blob_dir)
        if payloads == "database":
            from storage.payload_table import PayloadTableStore

            blobs = PayloadTableStore(url, blobs, connections=_PAYLOAD_CONNECTIONS)
        return cls(engine, blobs, lock_engine=lock_engine)

    def shared_send_budget(
        self, bot_id: int, interval: float, *, late: float
    ) -> SharedSendBudget | None:
        """The bot's send budget in the database, which every worker shares (PostgreSQL); None
        on SQLite, whose single process keeps its budget in memory."""
        if self.engine.dialect.name != "postgresql":
            return None
        from storage.send_budget import SharedSendBudget

        return SharedSendBudget(self.engine, bot_id, interval, late=late)

    def chat_lock(self, chat_key: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold while processing one update of a chat: one holder per chat, across processes
        on PostgreSQL (a session advisory lock), within this process on SQLite."""
        return self._locks.hold(chat_key)

    def try_chat_lock(self, chat_key: str) -> contextlib.AbstractAsyncContextManager[bool]:
        """`chat_lock` if it is free now (True); False at once if anyone holds or waits for it."""
        return self._locks.try_hold(chat_key)

    async def sweep_orphan_payloads(self, grace: dt.timedelta) -> int:
        """Delete payload blobs (and leftover `.tmp-*` files) no item row refers to, once seen
        unreferenced for at least `grace` by this Storage; returns how many were deleted."""
        return await self._orphans.sweep(grace)

    async def close(self) -> None:
        await self.blobs.aclose()
        await self._locks.close()
        await self.transactions.close()
        if self._lock_engine is not None:
            await self._lock_engine.dispose()
        await self.engine.dispose()
