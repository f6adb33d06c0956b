"""`intake serve` as real processes for the durability tests: start, kill -9, restart, check."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import crypto
from crypto.receipts import receipt_keys
from review.opened import OpenedReport
from review.queue import list_reports, open_report
from review.recipients import add_reviewer
from standin import BotApiStandIn
from standin.witnesses import WitnessRecord
from storage import Storage
from storage.server_keys import load_or_create_server_keys
from tests.support import skip_or_fail

TOKEN = "555000111:TEST-durability-token-for-the-standin"

# Debian's libfaketime (package faketime), the thread-safe build: preloaded into `intake serve`
# it shifts the process's wall clock and nothing else of it.
LIBFAKETIME = "faketime/libfaketimeMT.so.1"


def clock_a_day_behind() -> dict[str, str]:
    """The environment that runs an unmodified `intake serve` with its wall clock a day (two,
    in the small hours) behind: what it receives falls on a day that has already ended, and
    closed, by the real clock, so a real authority asked now timestamps it as it would
    tomorrow. The monotonic clock is left alone: timeouts and retries run as ever."""
    found = sorted(Path("/usr/lib").glob(f"*/{LIBFAKETIME}"))
    if not found:
        skip_or_fail(f"{LIBFAKETIME} is missing (apt-get install faketime)")
    # The day ends at midnight UTC and closes an hour later: never land on a day still open.
    behind = "-1d" if dt.datetime.now(dt.UTC).hour >= 2 else "-2d"
    return {"LD_PRELOAD": str(found[0]), "FAKETIME": behind,
            "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


@dataclass
class ServeProcesses:
    """One data directory and draft key, any number of `intake serve` runs over time."""

    data_dir: Path
    database_url: str
    api_root: str
    draft_key: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    running: list[asyncio.subprocess.Process] = field(default_factory=list)
    logs: list[bytes] = field(default_factory=list)
    kills: int = 0

    def env(self, **more: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
        return {
            **base,
            "INTAKE_DATA_DIR": str(self.data_dir),
            "INTAKE_DATABASE_URL": self.database_url,
            "INTAKE_BOT_TOKEN": TOKEN,
            "INTAKE_TELEGRAM_API_URL": self.api_root,
            "INTAKE_DRAFT_KEY_FILE": str(self.draft_key),
            "INTAKE_LOG_LEVEL": "DEBUG",
            **self.extra_env,
            **more,
        }

    async def start(self, *args: str, **env: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.main", "serve", *args,
            env=self.env(**env),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self.running.append(process)
        return process

    async def kill(self, process: asyncio.subprocess.Process) -> None:
        """SIGKILL: no clean-up, no flush, exactly what an out-of-memory kill does."""
        process.send_signal(signal.SIGKILL)
        await self._reap(process)
        self.kills += 1

    async def stop(self, process: asyncio.subprocess.Process) -> int:
        process.send_signal(signal.SIGTERM)
        return await self._reap(process)

    async def _reap(self, process: asyncio.subprocess.Process) -> int:
        assert process.stderr is not None
        err = await asyncio.wait_for(process.stderr.read(), 60)
        code = await asyncio.wait_for(process.wait(), 60)
        self.logs.append(err)
        self.running.remove(process)
        return code

    async def stop_all(self) -> None:
        for process in list(self.running):
            await self.stop(process)


async def prepare_store(database_url: str, data_dir: Path) -> crypto.X25519Identity:
    """A reviewer registered in a fresh store; returns the reviewer's identity."""
    reviewer = crypto.generate_identity()
    storage = await Storage.open(database_url, data_dir / "blobs")
    try:
        await add_reviewer(storage, "reviewer-a", str(reviewer.recipient))
    finally:
        await storage.close()
    return reviewer


@dataclass
class Outcome:
    reports: list[OpenedReport]
    receipt_owner: dict[str, str]  # report id -> receipt code that finds it
    orphan_payloads: int


async def outcome(
    database_url: str, data_dir: Path, reviewer: crypto.X25519Identity,
    records: Sequence[WitnessRecord],
    *,
    payloads: Literal["directory", "database"] = "directory",
) -> Outcome:
    """Open every stored report, match receipts to reports, sweep orphans and count leftovers."""
    keys = load_or_create_server_keys(data_dir)
    storage = await Storage.open(database_url, data_dir / "blobs", payloads=payloads)
    try:
        summaries = await list_reports(storage)
        reports = [await open_report(storage, s.report_id, [reviewer]) for s in summaries]
        owners: dict[str, str] = {}
        for record in records:
            if record.receipt_code is None:
                continue
            found = await storage.reports.find_by_receipt_hash(
                receipt_keys(record.receipt_code, keys.hash_key).lookup_hash
            )
            if found is not None:
                owners[found] = record.receipt_code
        await storage.sweep_orphan_payloads(dt.timedelta(0))
        stored: set[str] = set()
        for summary in summaries:
            report = await storage.reports.get(summary.report_id)
            assert report is not None
            stored |= {item.item_id for item in report.items}
        on_disk = {
            p.name for p in (data_dir / "blobs").rglob("*") if p.is_file()
        }
        orphans = len(on_disk - stored)
    finally:
        await storage.close()
    return Outcome(reports, owners, orphans)


def report_canaries(report: OpenedReport) -> set[str]:
    texts = {str(a.get("text")) for a in report.document["answers"] if a.get("text")}
    return texts | {a.data.decode(errors="replace") for a in report.attachments}


def files_at_rest(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob("*") if p.is_file()]


def canary_hits(paths: Sequence[Path], canaries: Sequence[str]) -> list[tuple[str, str]]:
    hits = []
    for path in paths:
        data = path.read_bytes()
        for canary in canaries:
            if canary.encode() in data:
                hits.append((str(path), canary))
    return hits


def chat_timeline(standin: BotApiStandIn, chat_id: int) -> list[str]:
    """The stand-in's view of one chat: its updates, and every Bot API call naming it (seconds
    from the first call, method, status, fault, the start of the text), for a failure report."""
    start = standin.calls[0].time if standin.calls else 0.0
    lines = []
    for update in standin.state.history:
        kind, payload = next((k, v) for k, v in update.items() if k != "update_id")
        message = payload.get("message", payload) if kind == "callback_query" else payload
        if message.get("chat", {}).get("id") == chat_id:
            what = payload.get("data") or message.get("text") or "media"
            lines.append(f"update {update['update_id']} {kind} {str(what)[:40]!r}")
    for call in standin.calls:
        if call.params.get("chat_id") != chat_id:
            continue
        text = str(call.params.get("text", ""))[:50]
        lines.append(
            f"{call.time - start:7.2f} {call.method} {call.status} {call.fault or ''} "
            f"{call.description or ''} {text!r}"
        )
    return lines


def update_offsets(standin: BotApiStandIn) -> list[str]:
    """When getUpdates' offset moved (seconds from the first call): a stuck offset shows."""
    start = standin.calls[0].time if standin.calls else 0.0
    lines: list[str] = []
    last: object = None
    for call in standin.calls_to("getUpdates"):
        offset = call.params.get("offset")
        if offset != last:
            lines.append(f"{call.time - start:7.2f} offset={offset}")
            last = offset
    return lines


def failure_report(
    serve: ServeProcesses, standin: BotApiStandIn, records: Sequence[WitnessRecord]
) -> str:
    """What to print when witnesses stalled: each one's actions and chat, the offsets, the
    serve processes' logs (content-free by design, so safe to print)."""
    parts = []
    for record in records:
        if record.stalled is None and record.receipt_code is not None:
            continue
        parts.append(f"== witness {record.user_id}: {record.stalled}")
        parts.append("actions: " + ", ".join(record.actions))
        parts += chat_timeline(standin, record.user_id)
    parts.append("== getUpdates offsets")
    parts += update_offsets(standin)
    for number, log in enumerate(serve.logs):
        parts.append(f"== serve process {number} log")
        parts.append(log.decode(errors="replace"))
    return "\n".join(parts)
