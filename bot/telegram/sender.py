"""Every Bot API call goes through here: Telegram's rates kept, its faults retried.

Telegram allows about 30 messages a second overall and about one a second per chat sustained;
past that it answers 429 with `retry_after`. It also answers 502 now and then, and connections
drop. This sender keeps the overall rate with the bot's send budget (send_budget.py: permits
held until a second after Telegram's answer in one process; slots spread evenly, shared by
every worker, on PostgreSQL), the per-chat rate with a leaky bucket per
chat (aiolimiter), honours `retry_after`, and retries 5xx, time-outs and dropped connections
with exponential back-off and jitter (tenacity). A 429 pauses the whole budget for its
`retry_after` (Telegram's limits are per bot, so every worker must wait it out).

Why not python-telegram-bot's AIORateLimiter: it has no per-private-chat rate, does not retry
5xx or network errors, and its overall bucket (aiolimiter's) lets a burst of 30 through on top
of the rate, about 60 messages in one second, which Telegram refuses. aiolimiter's bucket is
the right shape for a chat's own pace (a question and its buttons go out at once), not for the
overall one.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiolimiter import AsyncLimiter
from telegram.error import BadRequest, NetworkError, RetryAfter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from bot import metrics
from bot.telegram.send_budget import Deck, LocalSendBudget, Pacer, SendBudget, Slot

log = logging.getLogger("intake.sender")

T = TypeVar("T")

_MAX_CHAT_LIMITERS = 10_000

# How long a Bot API call's answer is waited for before the call counts as failed (and is
# tried again). Telegram now and then answers a sendMessage many seconds late, after the
# message was sent; python-telegram-bot's default of 5 s took such an answer for a failure, and
# the retry showed the witness the same message (a receipt) twice. Above the slow tail (the
# stand-in's faults answer up to 15 s late, tests/e2e/test_faults.py), with room to spare.
READ_TIMEOUT_SECONDS = 30.0
# Connections a bot keeps to the Bot API (bot_api_http.py, aiohttp's pool). Eight carry 80
# calls a second when Telegram answers in 100 ms, 40 at 200 ms: the 30 messages a second of a
# bot at its limit and its button answers; past that a call waits for a free connection (as
# long as it would wait for an answer), it does not fail. A server far from Telegram (answers
# slower than about 150 ms) or a self-hosted Bot API server handing out big files raises it
# with INTAKE_BOT_API_CONNECTIONS. (Over httpx, each connection held cost every call CPU:
# httpcore looks at all of them whenever it hands one out, 1.4 ms a call with 8 in use and
# 3.8 ms with 128; aiohttp's pool does not.)
BOT_API_CONNECTIONS = 8


def is_transient(error: BaseException) -> bool:
    """A 429, a 5xx, a time-out or a dropped connection; not a refusal (400, 403)."""
    if isinstance(error, RetryAfter):
        return True
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


def retry_after_seconds(error: RetryAfter) -> float:
    value: object = error.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)  # type: ignore[arg-type]


class BotApiSender:
    def __init__(
        self,
        *,
        budget: SendBudget | LocalSendBudget | None = None,
        per_chat_per_second: float = 1.0,
        per_chat_burst: int = 3,
        attempts: int = 6,
        max_backoff_seconds: float = 20.0,
    ) -> None:
        # The bot's overall budget; one of this process alone unless a shared one is given.
        self._pacer = Pacer(budget if budget is not None else LocalSendBudget())
        self._per_chat_rate = per_chat_per_second
        self._per_chat_burst = per_chat_burst
        self._chats: OrderedDict[int, AsyncLimiter] = OrderedDict()
        self._attempts = attempts
        self._max_backoff = max_backoff_seconds

    @property
    def chats_tracked(self) -> int:
        """How many chats have a rate bucket in memory (for tests and the memory bench)."""
        return len(self._chats)

    def _forget_idle_chats(self, at_most: int = 2) -> None:
        """Drop the least recently used chats' buckets that have drained completely.

        A drained bucket holds nothing a new one would not (a full burst is allowed either
        way), so forgetting it changes no chat's pace. Two per new chat keeps the map to the
        chats active within the last burst / rate seconds (ten by default) instead of every
        chat seen since the start, up to the hard cap.
        """
        for _ in range(at_most):
            oldest = next(iter(self._chats.items()), None)
            if oldest is None or not oldest[1].has_capacity(oldest[1].max_rate):
                return
            del self._chats[oldest[0]]

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        limiter = self._chats.get(chat_id)
        if limiter is None:
            self._forget_idle_chats()
            # A bucket of `burst` messages refilled at the per-chat rate: a question and its
            # buttons go out at once, a flood to one chat is spread out.
            limiter = AsyncLimiter(self._per_chat_burst,
                                   self._per_chat_burst / self._per_chat_rate)
            self._chats[chat_id] = limiter
            if len(self._chats) > _MAX_CHAT_LIMITERS:
                self._chats.popitem(last=False)
        else:
            self._chats.move_to_end(chat_id)
        return limiter

    @property
    def attempts(self) -> int:
        return self._attempts

    def backoff(self, error: BaseException | None, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failed try: a 429's `retry_after`, else
        exponential back-off with jitter."""
        if isinstance(error, RetryAfter):
            return retry_after_seconds(error) + random.uniform(0.0, 0.5)  # noqa: S311
        ceiling = min(self._max_backoff, 0.25 * 2 ** (attempt - 1))
        return random.uniform(0.0, ceiling) + 0.05  # noqa: S311 - jitter, not a secret

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return self.backoff(error, state.attempt_number)

    async def reserve(self, chat_id: int) -> Slot | None:
        """Wait for this chat's next slot, then the bot's (a permit of a local budget), now,
        outside any lock. `call(..., reserved=True, slot=that)` then waits for neither again;
        the caller gives the slot back (`Slot.give_back`) if no message left on it. A sender
        never waits in the queue for the bot's budget while it holds a chat's lock (which
        would hold up that chat's next update, on any worker, for as long as the queue).

        With a budget shared by workers, only the chat's slot is waited for here (None is
        returned), and the bot's is claimed under the chat's lock once the message is known to
        be still waiting (`claims_at_send`, `on_deck`, `claim`): at most `send_budget.ON_DECK`
        chats of a worker are held so, for a few slots' time (while a 429 pauses the budget,
        they let go and wait).
        """
        await self._chat_limiter(chat_id).acquire()
        return await self._pacer.reserve()

    async def reserve_again(self) -> Slot | None:
        """The bot's slot once more, for a message whose chat's slot `reserve` took already
        (its first was given back while the chat's lock was taken)."""
        return await self._pacer.reserve()

    @property
    def claims_at_send(self) -> bool:
        """Whether messages claim their slot under the chat's lock, right before they leave
        (a budget shared by workers), rather than reserving it beforehand (`reserve`)."""
        return self._pacer.shared

    def on_deck(self) -> Deck:
        """Held while taking a chat's lock to claim a slot for it (send_budget.Pacer.on_deck)."""
        return self._pacer.on_deck()

    async def claim(self, *, patience: float | None = None) -> Slot:
        """Under the chat's lock, its message still waiting: wait for this process's turn and
        claim the bot's slot due now, for `call(..., slot=)`. NotDue when the
        next slot is further than `patience` (send_budget.Pacer.claim)."""
        return await self._pacer.claim(patience=patience)

    async def call(
        self,
        chat_id: int | None,
        make: Callable[[], Awaitable[T]],
        *,
        counts: bool = True,
        reserved: bool = False,
        sends_message: bool = True,
        retry: bool = True,
        slot: Slot | None = None,
    ) -> T:
        """Run one Bot API call (made fresh by `make` for every attempt) within the limits.

        `chat_id` None: a call that sends nothing to a chat (getMe). `counts` False: a call
        Telegram does not count against message rates (answerCallbackQuery, getFile).
        `sends_message` False: a call about one chat that sends no message (deleteMessages):
        paced by the chat's bucket only. Telegram's published overall limit is on messages
        sent ("not more than 30 messages per second or so", Bot FAQ), so such a call does not
        spend that budget, which the witnesses' answers need.
        `retry` False: one attempt only; the caller waits `backoff()` and tries again itself
        (the outbox relay, which must not wait holding the chat's lock).
        Raises the last error once the attempts are used up, or at once for a refusal.
        """
        if not retry:
            # One try, as the relay makes every message: no retry machinery to set up.
            return await self._attempt(chat_id, make, counts=counts, first=True,
                                       reserved=reserved, sends_message=sends_message,
                                       slot=slot)
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            reraise=True,
            before_sleep=self._count_retry,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(
                    chat_id, make, counts=counts,
                    first=attempt.retry_state.attempt_number == 1, reserved=reserved,
                    sends_message=sends_message, slot=slot)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _attempt(
        self,
        chat_id: int | None,
        make: Callable[[], Awaitable[T]],
        *,
        counts: bool,
        first: bool,
        reserved: bool,
        sends_message: bool,
        slot: Slot | None,
    ) -> T:
        if not counts:
            return await make()
        if chat_id is not None and not (reserved and first):
            # The chat's own bucket first, so waiting for it holds no overall slot.
            await self._chat_limiter(chat_id).acquire()
        if not sends_message:
            return await self._paused_on_429(make)
        if not (first and slot is not None and slot.usable()):
            if slot is not None:
                slot.give_back()  # spent by the first try, or taken before a 429's pause
            slot = await self._pacer.take()
        with slot.sending():
            return await self._paused_on_429(make)

    async def _paused_on_429(self, make: Callable[[], Awaitable[T]]) -> T:
        try:
            return await make()
        except RetryAfter as error:
            # Telegram's limits are the bot's: every worker waits, not only this call.
            await self._pacer.pause(retry_after_seconds(error))
            raise

    def _count_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        self.count_retry(error, state.attempt_number)

    def count_retry(self, error: BaseException | None, attempt: int) -> None:
        """Count and log a failed try about to be tried again (by this sender or its caller)."""
        metrics.SEND_RETRIES.inc()
        if isinstance(error, RetryAfter):
            metrics.RATE_LIMITED.inc()
        # The error's type only: its message can quote a URL with the token in it.
        log.info("botapi.retry", extra={"error": type(error), "count": attempt})
