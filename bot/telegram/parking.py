"""Parking: the poller takes an update over from Telegram while it is still being processed.

Telegram's getUpdates hands out at most 100 updates after the oldest one the bot has not
confirmed, and the poller confirms an update only once it is processed (polling.py), so one slow
update (a 30 s download, a long back-off) held up every other chat's updates behind it. An update
that has been in progress for a while is parked instead: its JSON sealed with the draft key
(purpose `parked_update`, keyed by its idempotency mark) and stored, and then it no longer holds
the offset back. It goes on being processed; once done, its row is deleted. After a crash the
poller processes what is parked before anything else, and the update's mark keeps that from
counting twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Sequence

from telegram import Bot, Update

from crypto import DecryptionError
from crypto.drafts import PURPOSE_PARKED_UPDATE, DraftKeyring
from storage import Storage

log = logging.getLogger("intake.polling")

# Parked rows are opened with the keys of this many days back (Telegram's own window is one).
_LIFETIME_DAYS = 2


class UpdateParking:
    def __init__(
        self, storage: Storage, keyring: DraftKeyring, bot: Bot, *,
        clock: Callable[[], float] = time.time, tag: str | None = None,
    ) -> None:
        """`tag`: the bot's (bot_tag), None for the deployment's own bot."""
        self._rows = storage.parked_updates
        self._tag = tag
        self._keyring = keyring
        self._bot = bot
        self._clock = clock

    def _today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC).date()

    def _key(self, update: Update) -> bytes:
        return self._keyring.update_key(self._bot.id, update.update_id)

    async def park(self, updates: Sequence[Update]) -> None:
        day = self._today()
        rows = []
        for update in updates:
            key = self._key(update)
            plain = json.dumps(update.to_dict(), separators=(",", ":")).encode()
            rows.append((key, self._keyring.seal(PURPOSE_PARKED_UPDATE, key.hex(), plain,
                                                 day=day)))
        await self._rows.park(rows, day, bot=self._tag)

    async def parked(self) -> list[Update]:
        """What is parked, oldest first; rows this process cannot open are dropped (logged)."""
        updates: list[Update] = []
        unreadable: list[bytes] = []
        for key, sealed, day in await self._rows.all(bot=self._tag):
            try:
                plain = self._keyring.open(PURPOSE_PARKED_UPDATE, key.hex(), sealed, day=day,
                                           lifetime_days=0)
                update = Update.de_json(json.loads(plain), self._bot)
            except (DecryptionError, ValueError, TypeError, KeyError) as error:
                log.warning("update.parked_unreadable", extra={"error": type(error)})
                unreadable.append(key)
                continue
            if update is not None:
                updates.append(update)
        if unreadable:
            await self._rows.unpark(unreadable)
        return sorted(updates, key=lambda u: u.update_id)

    async def done(self, updates: Sequence[Update]) -> None:
        await self._rows.unpark([self._key(update) for update in updates])

    async def sweep(self) -> None:
        await self._rows.sweep(self._today() - dt.timedelta(days=_LIFETIME_DAYS))
