"""The bot's send budget kept in PostgreSQL, so that every webhook worker shares one.

Telegram's limit of about 30 messages a second is the bot's, not a worker's: two workers each
pacing itself to 30 send up to 60. Here the grid of send slots (bot/telegram/send_budget.py)
lives in one row per bot, `send_budgets`, on the database's clock, so every worker agrees on
the time. A worker claims a slot right before it sends, with one statement (`claim`): if the
row's next slot has come (or came at most the late tolerance ago), it is taken and the row
moves on by one interval; otherwise nothing changes and the worker learns how long to wait.
So a slot is spent only by a message about to leave: a worker woken late, or one that finds
under the chat's lock that another worker delivered the message already, spends nothing (with
slots reserved ahead, such slots were lost: with 2 workers, more than half of the slots taken
went unused, bench/send_budget_workers.py). The row lock lasts only for that statement
(autocommit): workers queue on it for microseconds, never across a send. A 429 moves
`paused_until` forward, and no slot is handed out before it, to any worker.

`take` reserves the next slot ahead instead (kept for tests and tools). A worker that dies
between a claim and its send leaves that slot unused: the budget can only be spent less, never more.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# One statement: create the bot's row on its first slot, else take the row's next slot (never
# before now, nor before a 429's pause) and move it on by one interval. Times are the database
# clock's seconds since 1970, read once the row is locked (clock_timestamp, not the statement's
# start: a worker that queued for the row gets a slot from the moment it got it).
_TAKE = text("""
INSERT INTO send_budgets AS b (bot_key, next_slot, paused_until)
VALUES (:bot_key, extract(epoch from clock_timestamp())::double precision
        + CAST(:interval AS double precision), 0)
ON CONFLICT (bot_key) DO UPDATE
SET next_slot = greatest(b.next_slot, extract(epoch from clock_timestamp())::double precision,
                         b.paused_until) + CAST(:interval AS double precision)
RETURNING b.next_slot - CAST(:interval AS double precision),
          extract(epoch from clock_timestamp())::double precision
""")
# Claim the slot due now: lock the row, read the clock (after the lock: a worker that queued for
# the row claims from the moment it got it), and take the row's next slot if it has come, or
# came at most `late` ago (a claim may be that late and still count as on its slot: past that,
# the slot is the claim's moment minus `late`, so unused slots are never piled up for a
# burst). Returns the seconds until the next slot: 0 or less when this claim took it.
_CLAIM = text("""
WITH row_now AS (
    SELECT next_slot, paused_until,
           extract(epoch from clock_timestamp())::double precision AS now
    FROM send_budgets WHERE bot_key = :bot_key FOR UPDATE
), due AS (
    SELECT greatest(next_slot, now - CAST(:late AS double precision), paused_until) AS slot,
           now
    FROM row_now
), taken AS (
    UPDATE send_budgets SET next_slot = due.slot + CAST(:interval AS double precision)
    FROM due WHERE bot_key = :bot_key AND due.slot <= due.now
    RETURNING 1
)
SELECT due.slot, due.slot - due.now, (SELECT count(*) FROM taken) FROM due
""")
_CREATE = text("""
INSERT INTO send_budgets (bot_key, next_slot, paused_until) VALUES (:bot_key, 0, 0)
ON CONFLICT (bot_key) DO NOTHING
""")
_PAUSE = text("""
INSERT INTO send_budgets AS b (bot_key, next_slot, paused_until)
VALUES (:bot_key, 0, extract(epoch from clock_timestamp())::double precision
        + CAST(:seconds AS double precision))
ON CONFLICT (bot_key) DO UPDATE
SET paused_until = greatest(b.paused_until, excluded.paused_until)
""")


def budget_key(bot_id: int) -> str:
    """The row's key: a hash of the bot's id (not secret, but not needed in clear either)."""
    return hashlib.sha256(b"incident-intake/send-budget/%d" % bot_id).hexdigest()


def bot_tag(bot_id: int) -> str:
    """A bot's tag on its outbox rows and parked updates, and in its webhook path: the first
    16 hex digits of its send budget's key (docs/storage-format.md: what it reveals)."""
    return budget_key(bot_id)[:16]


class SharedSendBudget:
    """The `SendBudget` of bot/telegram/send_budget.py, kept in PostgreSQL."""

    def __init__(
        self, engine: AsyncEngine, bot_id: int, interval: float, *, late: float = 0.012
    ) -> None:
        # Autocommit: the row's lock ends with the statement, not when this process gets round
        # to a COMMIT (an event loop busy elsewhere would hold up every worker's slot).
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._key = budget_key(bot_id)
        self._interval = interval
        self._late = late
        self._created = False

    async def next_slot(self) -> float:
        slot, now = await self.take()
        return max(0.0, slot - now)

    async def take(self) -> tuple[float, float]:
        """Reserve the next slot: (the slot, the moment it was taken), on the database's clock."""
        async with self._engine.connect() as connection:
            row = (await connection.execute(
                _TAKE, {"bot_key": self._key, "interval": self._interval}
            )).one()
        return float(row[0]), float(row[1])

    async def claim(self) -> float:
        """Take the slot due now, if one is: 0.0; else the seconds until the next one."""
        slot, wait = await self.claim_slot()
        return 0.0 if slot is not None else wait

    async def claim_slot(self) -> tuple[float | None, float]:
        """(the slot taken, on the database's clock, or None if none was due; the seconds
        until the next slot, when none was taken)."""
        async with self._engine.connect() as connection:
            row = None
            while row is None:
                if not self._created:
                    await connection.execute(_CREATE, {"bot_key": self._key})
                    self._created = True
                row = (await connection.execute(_CLAIM, {
                    "bot_key": self._key, "interval": self._interval, "late": self._late,
                })).first()
                # No row: the table was emptied under us (a restore): create it again.
                self._created = row is not None
        slot, wait, taken = row
        if taken:
            return float(slot), 0.0
        return None, max(float(wait), 0.0)

    async def pause(self, seconds: float) -> None:
        async with self._engine.connect() as connection:
            await connection.execute(_PAUSE, {"bot_key": self._key, "seconds": seconds})
