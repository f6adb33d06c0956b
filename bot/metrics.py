"""The bot's Prometheus metrics: counts and states of the whole installation, never of a chat.

Rules every metric here keeps (tests/bot/test_health.py scrapes /metrics during a run and
looks for the run's chat ids, report ids, receipts and times):
- no label at all: nothing can name a chat, a report, a witness or a channel;
- nothing derived from a witness's activity is a time: reports are counted per finished UTC
  day (the day is all the database keeps), and the only timestamp is the last anchoring of a
  day's evidence tree, which runs on its own schedule after midnight.
Counters of updates and sends say how busy the bot is, as the log already does.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics

# Each counter would also export `_created`, the moment it was made: a time nobody needs here.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream

# Our own registry: only what is listed here is exported (no process or platform collectors).
REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES_HANDLED = Counter(
    "intake_updates_handled", "Telegram updates processed and committed by this process.",
    registry=REGISTRY,
)
SEND_RETRIES = Counter(
    "intake_send_retries", "Bot API calls retried after a 429, a 5xx or a dropped connection.",
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "intake_send_rate_limited", "Bot API answers 429 (Too Many Requests) among the retries.",
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge(
    "intake_outbox_depth", "Messages committed and waiting in the outbox to be sent.",
    registry=REGISTRY,
)
REPORTS_STORED_LAST_DAY = Gauge(
    "intake_reports_stored_last_day",
    "Reports stored on the last finished UTC day (a whole day: no finer time is exported).",
    registry=REGISTRY,
)
LAST_ANCHORING = Gauge(
    "intake_anchoring_last_success_timestamp_seconds",
    "When a time-stamp authority last timestamped a day's evidence root (0: never).",
    registry=REGISTRY,
)
DAYS_AWAITING_ANCHORING = Gauge(
    "intake_anchoring_days_queued", "Days whose evidence root has no timestamp yet.",
    registry=REGISTRY,
)
DATABASE_UP = Gauge(
    "intake_database_up", "1 when the last check reached the database, else 0.",
    registry=REGISTRY,
)
BOT_API_UP = Gauge(
    "intake_bot_api_up", "1 when the Bot API answered recently, else 0.", registry=REGISTRY,
)
