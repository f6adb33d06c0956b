"""Stop means stop: SIGTERM or Ctrl-C ends a long-running command within ten seconds.

compose and systemd send SIGTERM and wait 10 s before SIGKILL. So: while the command is still
starting (retrying an unreachable Bot API, waiting for the database), the first signal cancels
the start at once; once it runs, the signal asks it to finish what it started, and what is
not done STOP_GRACE_SECONDS later is cancelled; a second signal cancels at once. A cancel
only ever interrupts an uncommitted transaction, which rolls back: an update whose processing
is cut short is not confirmed to Telegram, which delivers it again after the restart. If even
the clean-up hangs (a thread stuck in a DNS lookup), the process ends itself at
FORCED_EXIT_SECONDS, exactly like the kill -9 the durability tests already survive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable

log = logging.getLogger("intake.cli")

STOP_GRACE_SECONDS = 6.0
FORCED_EXIT_SECONDS = 9.0
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopping:
    """What a running command is told: `requested` is set by the first signal; it sets
    `started` once it serves, from then on a signal waits for it to finish."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.started = False

    def mark_started(self) -> None:
        self.started = True


async def run_until_stopped(body: Callable[[Stopping], Awaitable[None]]) -> bool:
    """Run `body` until it returns, or until a signal stops it; True when a signal stopped it.

    A stop asked for by SIGTERM or Ctrl-C is a clean end (the caller exits 0), whether the
    body returned by itself after the signal or had to be cancelled.
    """
    loop = asyncio.get_running_loop()
    stopping = Stopping()
    task = asyncio.ensure_future(body(stopping))
    cancelled_by_us = False

    def cancel() -> None:
        nonlocal cancelled_by_us
        if not task.done():
            cancelled_by_us = True
            task.cancel()

    def on_signal() -> None:
        if stopping.requested.is_set():
            cancel()  # asked twice: do not wait any longer
            return
        stopping.requested.set()
        _exit_if_still_running_after(FORCED_EXIT_SECONDS)
        if stopping.started:
            loop.call_later(STOP_GRACE_SECONDS, cancel)
        else:
            cancel()  # nothing is served yet, so nothing is half done

    for number in _SIGNALS:
        loop.add_signal_handler(number, on_signal)
    try:
        await task
    except asyncio.CancelledError:
        if not cancelled_by_us:
            raise
    finally:
        for number in _SIGNALS:
            loop.remove_signal_handler(number)
    if stopping.requested.is_set():
        log.info("serve.stopped" if stopping.started else "serve.stopped_while_starting")
    return stopping.requested.is_set()


def _exit_if_still_running_after(seconds: float) -> None:
    """Ends the process from a daemon thread if it is still running `seconds` from now."""

    def force() -> None:
        log.error("serve.stop_forced reason=clean-up did not finish in time; committed work is "
                  "kept, unfinished updates come again")
        with contextlib.suppress(Exception):
            logging.shutdown()
        os._exit(1)

    timer = threading.Timer(seconds, force)
    timer.daemon = True
    timer.start()
