"""Long polling, at least once: an update is confirmed to Telegram only after it is processed.

python-telegram-bot's Updater confirms what it fetched on its next getUpdates call, long before
the handler finishes, so a crash loses those updates. Here the offset sent to Telegram only
moves past an update once it (and every earlier one) has been processed and committed; a crash
makes Telegram deliver the unconfirmed ones again, and the stored idempotency marks make that
harmless. Each chat's updates go to that chat's own queue and are processed in order, one at a
time; different chats run concurrently. An update still in progress after a couple of seconds
(a slow download, a back-off) is parked (parking.py: sealed in the database), so that it no
longer holds back the offset, and with it every other chat's updates. The parts of an album
(same media group, same chat) are gathered for a moment and processed together, as one answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from telegram import Bot, Update
from telegram.error import Conflict, NetworkError, RetryAfter, TelegramError

from bot.telegram.parking import UpdateParking
from bot.telegram.sender import retry_after_seconds
from storage.errors import REFUSED_HINT, refused_connection

log = logging.getLogger("intake.polling")

Process = Callable[[Sequence[Update]], Awaitable[None]]
# Decides as an update arrives whether it is processed at all (flood control).
Admit = Callable[[Update], bool]

ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
# A failure of our own code on one update is tried this often before it is given up (and
# logged); a failure of the database or the network is retried until it goes away.
_ATTEMPTS_ON_BUG = 3
# While updates are in flight every getUpdates answers with all of them again (they are not
# confirmed yet), so asking in a tight loop re-reads the whole backlog each time: under a surge
# of witnesses that was most of the bot's CPU. Ask at most this often while any is in flight;
# sooner once none is, since then Telegram holds the question until a new update comes (a
# fixed wait here kept the next witness's update waiting at Telegram for 50 ms on average),
# and sooner when nothing new came but one of them is done. One slow update (a Send waiting
# for its file) holds the offset until it is parked, so this is also how long another
# witness's update may wait meanwhile: 0.5 s made one slow chat raise two others' p99 first
# answer from 50 to 464 ms (bench/intake_load.py --witnesses 2 --slow-download 30).
_BUSY_REPOLL_SECONDS = 0.1
# An update in progress this long is parked rather than left holding back the offset.
_PARK_AFTER_SECONDS = 2.0


def _chat_of(update: Update) -> int:
    chat = update.effective_chat
    return chat.id if chat is not None else 0


def _album_of(update: Update) -> str | None:
    message = update.message
    return message.media_group_id if message is not None else None


def is_infrastructure(error: BaseException) -> bool:
    """The database or the network failed: not the update's fault, so never give it up."""
    if isinstance(error, NetworkError | RetryAfter):
        return True
    if isinstance(error, IntegrityError):
        return False
    # Connection failures, a pool that ran out (SQLAlchemy's own TimeoutError), disk trouble.
    return isinstance(error, SQLAlchemyError | OSError | TimeoutError)


@dataclass
class _ChatQueue:
    queue: asyncio.Queue[Update] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None


class AtLeastOncePoller:
    def __init__(
        self,
        bot: Bot,
        process: Process,
        *,
        api_url: str,
        admit: Admit = lambda _update: True,
        poll_timeout: int = 10,
        album_wait_seconds: float = 0.8,
        max_backoff_seconds: float = 30.0,
        parking: UpdateParking | None = None,
        park_after_seconds: float = _PARK_AFTER_SECONDS,
    ) -> None:
        self._bot = bot
        self._process = process
        self._admit = admit
        self._api_url = api_url
        self._poll_timeout = poll_timeout
        self._album_wait = album_wait_seconds
        self._max_backoff = max_backoff_seconds
        self._chats: dict[int, _ChatQueue] = {}
        # Update ids fetched and not yet processed; the offset never passes the smallest.
        self._open: set[int] = set()
        # The open updates, and when each was fetched (loop time), for parking.
        self._in_progress: dict[int, tuple[Update, float]] = {}
        self._parking = parking
        self._park_after = park_after_seconds
        # Ids of parked updates not processed yet: their rows go once they are.
        self._parked: set[int] = set()
        self._seen_up_to = -1
        self._progress = asyncio.Event()
        self._stop = asyncio.Event()
        self.processed = 0

    @property
    def offset(self) -> int | None:
        if self._open:
            return min(self._open)
        return self._seen_up_to + 1 if self._seen_up_to >= 0 else None

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set, then let every started update finish."""
        self._stop = stop
        failures = 0
        try:
            await self._resume_parked()
            while not stop.is_set():
                try:
                    updates = await self._fetch(stop)
                except RetryAfter as error:
                    await self._pause(stop, retry_after_seconds(error))
                    continue
                except Conflict:
                    log.error("polling.conflict hint=another process polls this bot, or a "
                              "webhook is set: stop it, or run `intake serve --webhook`")
                    await self._pause(stop, 5.0)
                    continue
                except (NetworkError, TelegramError) as error:
                    failures += 1
                    wait = min(self._max_backoff, 0.5 * 2 ** min(failures, 6))
                    log.warning(
                        f"polling.unreachable url={self._api_url} hint=check the network and "
                        "INTAKE_TELEGRAM_API_URL; retrying",
                        extra={"error": type(error), "count": failures},
                    )
                    await self._pause(stop, wait * random.uniform(0.5, 1.0))  # noqa: S311
                    continue
                failures = 0
                fresh = sum(self._accept(update) for update in updates)
                await self._park_slow()
                if fresh and self._open:
                    await self._until_idle(stop, _BUSY_REPOLL_SECONDS)
                elif not fresh and self._open:
                    # Telegram answers at once with the updates still in flight (they are not
                    # confirmed yet): wait until one of them is done before asking again.
                    self._progress.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._progress.wait(), _BUSY_REPOLL_SECONDS)
        finally:
            workers = [c.worker for c in self._chats.values() if c.worker is not None]
            for chat in self._chats.values():
                # Updates not started yet stay unconfirmed: Telegram delivers them again
                # after the restart. Only the ones in progress are finished.
                while not chat.queue.empty():
                    chat.queue.get_nowait()
                chat.queue.put_nowait(_STOP)
            if workers:
                await asyncio.gather(*workers, return_exceptions=True)
            await self._confirm()

    async def _until_idle(self, stop: asyncio.Event, seconds: float) -> None:
        """Until no update is in flight, `seconds` at most (or the poller stops)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self._open and not stop.is_set():
            left = deadline - loop.time()
            if left <= 0:
                return
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._progress.wait()

    async def _fetch(self, stop: asyncio.Event) -> list[Update]:
        fetch = asyncio.ensure_future(self._fetch_new())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await fetch
            return []
        return fetch.result()

    async def _fetch_new(self) -> list[Update]:
        """getUpdates, turning into Update objects only the updates not fetched before.

        Bot.get_updates would build a full Update (every nested object, every button) for each
        update still in flight, each time it is fetched again; the raw answer is checked for
        new update ids first. `_post` is the request Bot.get_updates itself makes (same
        errors, same timeouts), minus the parsing.
        """
        data = {
            "timeout": self._poll_timeout,
            "offset": self.offset,
            "allowed_updates": list(ALLOWED_UPDATES),
        }
        raw = await self._bot._post(  # a protected method: see the docstring
            "getUpdates", data, read_timeout=self._poll_timeout + 10
        )
        if not isinstance(raw, list):
            return []
        return [
            Update.de_json(item, self._bot)
            for item in raw
            if isinstance(item, dict) and int(item.get("update_id", -1)) > self._seen_up_to
        ]

    async def _confirm(self) -> None:
        """Tell Telegram what is done, so a clean stop does not redeliver it."""
        if self.offset is None:
            return
        with contextlib.suppress(TelegramError):
            await self._bot.get_updates(offset=self.offset, timeout=0, limit=1,
                                        allowed_updates=list(ALLOWED_UPDATES))

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    async def _resume_parked(self) -> None:
        """Queue what was parked before a crash or a stop: it is no longer Telegram's."""
        if self._parking is None:
            return
        try:
            parked = await self._parking.parked()
        except Exception as error:  # the database is down: they wait for the next start
            log.warning("update.parked_unavailable", extra={"error": type(error)})
            return
        for update in parked:
            self._parked.add(update.update_id)
            self._queue(update)

    async def _park_slow(self) -> None:
        """Park the updates in progress for long, when the oldest of them holds the offset."""
        if self._parking is None or not self._open:
            return
        now = asyncio.get_running_loop().time()
        oldest = min(self._open)
        if now - self._in_progress[oldest][1] < self._park_after:
            return
        slow = [update for update, since in self._in_progress.values()
                if now - since >= self._park_after]
        try:
            await self._parking.park(slow)
        except Exception as error:  # not parked: they keep holding the offset, as before
            log.warning("update.park_failed", extra={"error": type(error)})
            return
        # One that finished while its row was being written was not known as parked then:
        # its row goes now, not after the next restart (which would process it again).
        finished = [update for update in slow if update.update_id not in self._in_progress]
        for update in slow:
            if update.update_id in self._in_progress:
                self._open.discard(update.update_id)
                self._in_progress.pop(update.update_id)
                self._parked.add(update.update_id)
        log.info("update.parked", extra={"count": len(slow) - len(finished)})
        if finished:
            try:
                await self._parking.done(finished)
            except Exception as error:  # left parked: processed again (a no-op) next start
                log.warning("update.unpark_failed", extra={"error": type(error)})

    def _queue(self, update: Update) -> None:
        chat_id = _chat_of(update)
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _ChatQueue()
        chat.queue.put_nowait(update)
        if chat.worker is None or chat.worker.done():
            chat.worker = asyncio.create_task(self._work(chat_id, chat))

    def _accept(self, update: Update) -> bool:
        """Queue a newly fetched update; False if it was fetched before."""
        update_id = update.update_id
        if update_id <= self._seen_up_to:
            return False  # in progress or done
        self._seen_up_to = update_id
        if not self._admit(update):
            return True
        self._open.add(update_id)
        self._in_progress[update_id] = (update, asyncio.get_running_loop().time())
        self._queue(update)
        return True

    async def _work(self, chat_id: int, chat: _ChatQueue) -> None:
        """Process one chat's updates in order; end when its queue stays empty."""
        carried: Update | None = None
        while True:
            if carried is not None:
                update, carried = carried, None
            else:
                try:
                    # asyncio.timeout, not wait_for: no task made for every update awaited.
                    async with asyncio.timeout(1.0):
                        update = await chat.queue.get()
                except TimeoutError:
                    if chat.queue.empty():
                        self._chats.pop(chat_id, None)
                        return
                    continue
            if update is _STOP:
                return
            unit = [update]
            album = _album_of(update)
            if album is not None:
                carried = await self._gather_album(chat, album, unit)
            if await self._run(unit):
                await self._done(unit)
            self._progress.set()
            if carried is _STOP:
                return

    async def _done(self, unit: list[Update]) -> None:
        parked = [part for part in unit if part.update_id in self._parked]
        for part in unit:
            self._open.discard(part.update_id)
            self._in_progress.pop(part.update_id, None)
            self._parked.discard(part.update_id)
        if parked and self._parking is not None:
            try:
                await self._parking.done(parked)
            except Exception as error:  # left parked: processed again (a no-op) next start
                log.warning("update.unpark_failed", extra={"error": type(error)})

    async def _gather_album(
        self, chat: _ChatQueue, album: str, unit: list[Update]
    ) -> Update | None:
        """Add the album's later parts to `unit`; returns the first update that is not one."""
        while True:
            try:
                following = await asyncio.wait_for(chat.queue.get(), self._album_wait)
            except TimeoutError:
                return None
            if following is _STOP or _album_of(following) != album:
                return following
            unit.append(following)

    async def _run(self, unit: list[Update]) -> bool:
        """Process a unit; False when it was left for Telegram to deliver again (stopping)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._process(unit)
                self.processed += len(unit)
                return True
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not is_infrastructure(error) and attempt >= _ATTEMPTS_ON_BUG:
                    log.exception("update.abandoned", extra={"error": type(error)})
                    return True
                if refused_connection(error):
                    log.warning(REFUSED_HINT)
                log.warning("update.retry", extra={"error": type(error), "count": attempt})
                if self._stop.is_set():
                    return False  # left unconfirmed: Telegram delivers it again after the restart
                await self._pause(self._stop, min(self._max_backoff, 0.2 * 2 ** min(attempt, 8)))


# A sentinel that tells a chat's worker to finish (the poller is stopping).
_STOP: Update = Update(update_id=-1)
