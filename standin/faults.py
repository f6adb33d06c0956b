"""Telegram's failure modes, for tests that prove a bot survives them; all off by default.

Two independent switches on :class:`~standin.server.BotApiStandIn`:

* ``faults`` (:class:`Faults`): per-call probabilities of a 429 with ``retry_after``, a 502 from
  the front proxy, a connection dropped before or after the call took effect, and a slow answer.
  Seeded, so a run can be repeated.
* ``flood_limits`` (:class:`FloodLimits`): Telegram's documented sending rates (about 30 messages
  a second overall, about one a second per chat sustained, with a small burst), answered with
  429 and the ``retry_after`` after which the same call would pass.

A call refused with 429, 502 or a connection dropped *before* the effect changes nothing at all.
"""

from __future__ import annotations

import enum
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from standin.models import JSONDict


class FaultKind(enum.StrEnum):
    """What the stand-in did instead of (or on top of) answering a call normally."""

    #: 429 Too Many Requests with ``parameters.retry_after``; no effect.
    RETRY_AFTER = "retry_after"
    #: 502 Bad Gateway with nginx's HTML body; no effect.
    BAD_GATEWAY = "bad_gateway"
    #: The connection closed without an answer, before the call took effect.
    DROP_BEFORE = "drop_before"
    #: The call took effect (a message was sent...), then the connection closed unanswered.
    DROP_AFTER = "drop_after"
    #: The answer came only after a delay (the call takes effect after the delay).
    SLOW = "slow"
    #: The call took effect at once (the message is on the phone); its answer came only after
    #: a delay, as Telegram's sometimes does. A client that gives up and tries again doubles it.
    LATE_ANSWER = "late_answer"
    #: 429 from the flood limits (:class:`FloodLimits`); no effect.
    FLOOD = "flood"


#: The pseudo-method name under which file downloads (``/file/bot<token>/...``) can fail.
DOWNLOAD = "downloadFile"

#: nginx's answer when the Bot API behind it is unavailable, as Telegram's front sends it.
BAD_GATEWAY_BODY = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def too_many_requests(retry_after: int) -> JSONDict:
    """Telegram's 429 body."""
    return {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


@dataclass(frozen=True)
class Faults:
    """Per-call fault probabilities (each 0..1, their sum at most 1); all zero: no faults.

    ``methods`` limits faults to those Bot API methods (``None``: every method, including
    :data:`DOWNLOAD` for file downloads); ``exclude`` names methods that never fail. Names are
    matched case-insensitively. ``retry_after`` and ``slow_seconds`` are inclusive ranges drawn
    from with the same seeded generator.
    """

    retry_after_rate: float = 0.0
    bad_gateway_rate: float = 0.0
    drop_before_rate: float = 0.0
    drop_after_rate: float = 0.0
    slow_rate: float = 0.0
    late_answer_rate: float = 0.0
    retry_after: tuple[int, int] = (1, 2)
    slow_seconds: tuple[float, float] = (1.0, 3.0)
    methods: Collection[str] | None = None
    exclude: Collection[str] = frozenset()
    seed: int = 0

    def __post_init__(self) -> None:
        # Sets given by a test become frozensets, so the configuration stays immutable.
        if self.methods is not None:
            object.__setattr__(self, "methods", frozenset(self.methods))
        object.__setattr__(self, "exclude", frozenset(self.exclude))
        rates = self.rates()
        if any(not 0.0 <= r <= 1.0 for r in rates.values()) or sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError("fault rates must each be within 0..1 and add up to at most 1")
        low, high = self.retry_after
        if not 1 <= low <= high:
            raise ValueError("retry_after must be a range (low, high) with 1 <= low <= high")
        if not 0.0 <= self.slow_seconds[0] <= self.slow_seconds[1]:
            raise ValueError("slow_seconds must be a range (low, high) with 0 <= low <= high")

    @classmethod
    def each(
        cls,
        rate: float,
        *,
        seed: int = 0,
        exclude: Collection[str] = frozenset(),
        methods: Collection[str] | None = None,
        retry_after: tuple[int, int] = (1, 2),
        slow_seconds: tuple[float, float] = (1.0, 3.0),
    ) -> Faults:
        """Every kind at ``rate``; drops split evenly between before and after the effect."""
        return cls(
            retry_after_rate=rate,
            bad_gateway_rate=rate,
            drop_before_rate=rate / 2,
            drop_after_rate=rate / 2,
            slow_rate=rate,
            retry_after=retry_after,
            slow_seconds=slow_seconds,
            methods=methods,
            exclude=exclude,
            seed=seed,
        )

    @classmethod
    def mixed(
        cls,
        total: float,
        *,
        seed: int = 0,
        exclude: Collection[str] = frozenset(),
        methods: Collection[str] | None = None,
        retry_after: tuple[int, int] = (1, 2),
        slow_seconds: tuple[float, float] = (1.0, 3.0),
    ) -> Faults:
        """``total`` of the calls fail, a quarter each 429, 502, dropped (half before, half
        after the effect) and slow."""
        return cls.each(
            total / 4,
            seed=seed,
            exclude=exclude,
            methods=methods,
            retry_after=retry_after,
            slow_seconds=slow_seconds,
        )

    def rates(self) -> dict[FaultKind, float]:
        """The probability of each kind of fault per eligible call."""
        return {
            FaultKind.RETRY_AFTER: self.retry_after_rate,
            FaultKind.BAD_GATEWAY: self.bad_gateway_rate,
            FaultKind.DROP_BEFORE: self.drop_before_rate,
            FaultKind.DROP_AFTER: self.drop_after_rate,
            FaultKind.SLOW: self.slow_rate,
            FaultKind.LATE_ANSWER: self.late_answer_rate,
        }

    @property
    def enabled(self) -> bool:
        """Whether any call can fail."""
        return any(self.rates().values())

    def applies_to(self, method: str) -> bool:
        """Whether calls of ``method`` may fail."""
        name = method.lower()
        if name in {m.lower() for m in self.exclude}:
            return False
        return self.methods is None or name in {m.lower() for m in self.methods}


@dataclass(frozen=True)
class Fault:
    """One injected fault: its kind, and the delay or retry_after it carries."""

    kind: FaultKind
    retry_after: int = 0
    delay: float = 0.0


class FaultInjector:
    """Draws the fault (if any) for each call and counts what it injected."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._faults = faults or Faults()
        self._random = random.Random(self._faults.seed)  # noqa: S311 (reproducible, not secret)
        #: Injected faults by ``(kind, method)``, flood refusals included.
        self.counts: Counter[tuple[FaultKind, str]] = Counter()

    @property
    def faults(self) -> Faults:
        """The configuration in force."""
        return self._faults

    @faults.setter
    def faults(self, faults: Faults | None) -> None:
        self._faults = faults or Faults()
        self._random = random.Random(self._faults.seed)  # noqa: S311

    def draw(self, method: str) -> Fault | None:
        """The fault for this call of ``method``, or ``None`` (counted when not ``None``)."""
        faults = self._faults
        if not faults.enabled or not faults.applies_to(method):
            return None
        roll = self._random.random()
        for kind, rate in faults.rates().items():
            if roll < rate:
                fault = Fault(
                    kind,
                    retry_after=self._random.randint(*faults.retry_after),
                    delay=self._random.uniform(*faults.slow_seconds),
                )
                self.count(kind, method)
                return fault
            roll -= rate
        return None

    def count(self, kind: FaultKind, method: str) -> None:
        """Record one injected fault."""
        self.counts[(kind, method)] += 1

    def injected(self, kind: FaultKind | str | None = None, method: str | None = None) -> int:
        """How many faults were injected, optionally of one kind and/or for one method."""
        return sum(
            n
            for (k, m), n in self.counts.items()
            if (kind is None or k == kind) and (method is None or m.lower() == method.lower())
        )


#: The methods that send or change a message, which Telegram's flood limits count.
SENDING_METHODS = frozenset(
    {
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
    }
)


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's sending rates (core.telegram.org/bots/faq, "broadcasting to users").

    A token bucket overall and one per chat: ``overall_per_second`` refilled up to
    ``overall_burst``; ``per_chat_per_second`` refilled up to ``per_chat_burst``. A refused call
    gets 429 with the whole seconds until it would pass, and uses up nothing.
    """

    overall_per_second: float = 30.0
    overall_burst: int = 30
    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    methods: frozenset[str] = SENDING_METHODS

    def __post_init__(self) -> None:
        if min(self.overall_per_second, self.per_chat_per_second) <= 0:
            raise ValueError("flood rates must be positive")
        if min(self.overall_burst, self.per_chat_burst) < 1:
            raise ValueError("flood bursts must be at least 1")


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self) -> float:
        """Seconds until one token is available (0 if one is)."""
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


@dataclass
class FloodGate:
    """Applies :class:`FloodLimits`; ``clock`` is monotonic seconds."""

    limits: FloodLimits
    clock: Callable[[], float] = time.monotonic
    _overall: _Bucket | None = None
    _chats: dict[str, _Bucket] = field(default_factory=dict)

    def check(self, method: str, chat_id: object) -> int | None:
        """``None`` if the call may pass (it is then counted), else its ``retry_after``."""
        if method not in self.limits.methods:
            return None
        now = self.clock()
        limits = self.limits
        if self._overall is None:
            self._overall = _Bucket(
                limits.overall_per_second, limits.overall_burst, limits.overall_burst, now
            )
        key = str(chat_id)
        chat = self._chats.get(key)
        if chat is None:
            chat = self._chats[key] = _Bucket(
                limits.per_chat_per_second, limits.per_chat_burst, limits.per_chat_burst, now
            )
        self._overall.refill(now)
        chat.refill(now)
        wait = max(self._overall.wait(), chat.wait())
        if wait > 0:
            return max(1, math.ceil(wait))
        self._overall.tokens -= 1.0
        chat.tokens -= 1.0
        return None
