"""Daily anchoring: a Merkle tree over each closed day's manifests, item headers and audit entries,
timestamped.

Day D closes at D+1 00:00 UTC plus a grace (one hour by default), so that reports and entries
of day D still committing at midnight are in D's tree; whatever of day D turns up later (and any
manifest re-signed after its report's day was built) goes into the next tree built. The tree's
leaves are sorted by hash, so it says nothing about arrival order, and what decides when a tree
is built and timestamped is the calendar alone, never a report's arrival.

When no authority answers, the day stays queued and is retried with exponential back-off; the
delay shows in `intake evidence status` and as one warning line naming the fix.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crypto import merkle
from review.audit import decode_entry
from storage.evidence import DayRecord, EvidenceRepository, LeafRecord, TokenRecord

if TYPE_CHECKING:
    import aiohttp

    from review.evidence.tsa import TsaConfig

log = logging.getLogger("intake.evidence")

MANIFEST = "manifest"
HEADER = "header"
AUDIT = "audit"


@dataclass(frozen=True)
class AnchorPolicy:
    grace: dt.timedelta = dt.timedelta(hours=1)
    first_retry: dt.timedelta = dt.timedelta(minutes=5)
    max_retry: dt.timedelta = dt.timedelta(hours=6)
    # How long one worker's attempt holds a queued day before another may try.
    lease: dt.timedelta = dt.timedelta(minutes=5)


@dataclass
class AnchorRun:
    built: list[dt.date] = field(default_factory=list)
    anchored: list[dt.date] = field(default_factory=list)
    failed: list[tuple[dt.date, str]] = field(default_factory=list)


# A network failure and a refused answer need different fixes: telling one for the other sends
# an administrator to the wrong place.
NETWORK_FAILURES = frozenset({"unreachable", "http_error"})


def failure_fix(kind: str) -> str:
    """The one-line fix for a timestamping failure of this kind."""
    if kind in NETWORK_FAILURES:
        return ("the authority could not be reached (a network or server failure, not a "
                "verification one): check INTAKE_TSA_URLS and the network")
    return ("the authority answered but its reply did not verify (not a network failure): "
            "check INTAKE_TSA_CA_FILES holds that authority's CA certificate")


_DELAYED = {
    network: "evidence.anchor_delayed: no time-stamp authority timestamped a closed day; it "
             f"stays queued and is retried: {failure_fix(kind)} (intake evidence status)"
    for network, kind in ((True, "unreachable"), (False, "invalid_token"))
}


def closed_through(now: dt.datetime, grace: dt.timedelta) -> dt.date:
    """The last day whose tree may be built at `now`."""
    return (now - grace).date() - dt.timedelta(days=1)


def due_at(day: dt.date, grace: dt.timedelta) -> dt.datetime:
    """When day `day` closes: from then on, until timestamped, it is overdue."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC) + grace


def backoff(attempts: int, policy: AnchorPolicy) -> dt.timedelta:
    return min(policy.max_retry, policy.first_retry * (1 << max(0, attempts - 1)))


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Anchorer:
    def __init__(
        self,
        evidence: EvidenceRepository,
        tsas: Sequence[TsaConfig],
        *,
        policy: AnchorPolicy | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._evidence = evidence
        self._tsas = list(tsas)
        self._policy = policy or AnchorPolicy()
        self._clock = clock
        # The last closed day this process walked for: a quiet day (nothing to anchor) leaves
        # no tree behind, and without this every round would walk every manifest again.
        self._walked: dt.date | None = None

    async def run_once(self) -> AnchorRun:
        """Build every closed day's tree not built yet, then timestamp the days that are due."""
        now = self._clock()
        run = AnchorRun(built=await self.build_closed_days(now))
        await self._timestamp_due(now, run)
        return run

    async def build_closed_days(self, now: dt.datetime) -> list[dt.date]:
        closed = closed_through(now, self._policy.grace)
        existing = await self._evidence.built_days()
        if closed in existing or closed == self._walked:
            return []  # built already today: the walk over all manifests runs once a day

        def target(natural: dt.date) -> dt.date | None:
            if natural > closed:
                return None  # its day is still open
            if natural not in existing:
                return natural
            return closed if closed not in existing else None  # late: the next tree

        pending: dict[dt.date, list[LeafRecord]] = {}
        await self._pending_manifests(target, pending)
        await self._pending_headers(target, pending)
        await self._pending_audit(target, pending)
        built = []
        for day in sorted(pending):
            leaves = sorted(pending[day], key=lambda leaf: leaf.leaf_hash)
            tree_root = merkle.root([bytes.fromhex(leaf.leaf_hash) for leaf in leaves])
            if await self._evidence.create_day(day, tree_root.hex(), leaves, now):
                built.append(day)
        self._walked = closed
        return built

    async def _pending_manifests(
        self, target: Callable[[dt.date], dt.date | None], pending: dict[dt.date, list[LeafRecord]]
    ) -> None:
        # Every report's current manifest, page by page: a re-signed manifest is a new leaf.
        after = ""
        while page := await self._evidence.manifests(after=after):
            after = page[-1].report_id
            hashes = {merkle.leaf_hash(row.manifest).hex(): row for row in page}
            known = await self._evidence.known(list(hashes))
            for leaf_hash, row in hashes.items():
                day = target(row.received_day) if leaf_hash not in known else None
                if day is not None:
                    pending.setdefault(day, []).append(
                        LeafRecord(leaf_hash, MANIFEST, report_id=row.report_id))

    async def _pending_headers(
        self, target: Callable[[dt.date], dt.date | None], pending: dict[dt.date, list[LeafRecord]]
    ) -> None:
        # Every item's current header: its MAC commits to the file key (docs/evidence-bundle.md,
        # "Plaintext bound to the proof"); a re-wrapped header is a new leaf, like a manifest.
        after = ("", -1)
        while page := await self._evidence.item_headers(after=after):
            after = (page[-1].report_id, page[-1].seq)
            hashes = {merkle.leaf_hash(row.header).hex(): row for row in page}
            known = await self._evidence.known(list(hashes))
            for leaf_hash, row in hashes.items():
                day = target(row.received_day) if leaf_hash not in known else None
                if day is not None:
                    pending.setdefault(day, []).append(
                        LeafRecord(leaf_hash, HEADER, report_id=row.report_id))

    async def _pending_audit(
        self, target: Callable[[dt.date], dt.date | None], pending: dict[dt.date, list[LeafRecord]]
    ) -> None:
        after = await self._evidence.last_audit_seq()
        while page := await self._evidence.audit_entries(after=after):
            for entry in page:
                day = target(dt.date.fromisoformat(decode_entry(entry.entry).at[:10]))
                if day is None:
                    return  # entries are in order: the rest are later still
                pending.setdefault(day, []).append(LeafRecord(
                    merkle.leaf_hash(entry.entry).hex(), AUDIT, audit_seq=entry.seq))
            after = page[-1].seq

    async def _timestamp_due(self, now: dt.datetime, run: AnchorRun) -> None:
        if not self._tsas:
            return
        due = [d for d in await self._evidence.queued_days() if d.next_attempt <= now]
        if not due:
            return
        # The HTTP client and the RFC 3161 code load only when a day is due: `intake serve`
        # builds trees every few minutes but keeps neither in memory until it timestamps.
        import aiohttp

        async with aiohttp.ClientSession() as session:
            for day in due:
                if not await self._evidence.claim(day.day, now, now + self._policy.lease):
                    continue
                kind = await self._timestamp(session, day)
                if kind is None:
                    run.anchored.append(day.day)
                    continue
                attempts = day.attempts + 1
                await self._evidence.record_failure(
                    day.day, kind, now + backoff(attempts, self._policy))
                run.failed.append((day.day, kind))
                log.warning(_DELAYED[kind in NETWORK_FAILURES],
                            extra={"reason": kind, "count": attempts})

    async def _timestamp(self, session: aiohttp.ClientSession, day: DayRecord) -> str | None:
        """Ask every authority; None when at least one token was kept, else the first failure."""
        from review.evidence.tsa import TsaFailure, request_timestamp

        failures = []
        for tsa in self._tsas:
            try:
                stamp = await request_timestamp(session, tsa, bytes.fromhex(day.root))
            except TsaFailure as failure:
                failures.append(failure.kind)
                continue
            await self._evidence.add_token(day.day, TokenRecord(
                stamp.tsa, stamp.response, stamp.ca_pem, stamp.gen_time))
        return None if len(failures) < len(self._tsas) else failures[0]


@dataclass(frozen=True)
class DayStatus:
    day: dt.date
    leaf_count: int
    anchored: bool
    authorities: tuple[str, ...]
    overdue: dt.timedelta | None
    attempts: int
    last_failure: str | None
    next_attempt: dt.datetime | None


async def evidence_status(
    evidence: EvidenceRepository, now: dt.datetime, policy: AnchorPolicy | None = None
) -> list[DayStatus]:
    """Every built day: anchored (by whom) or queued (how long overdue, why, next attempt)."""
    grace = (policy or AnchorPolicy()).grace
    return [
        DayStatus(
            d.day, d.leaf_count, d.anchored, tuple(t.tsa for t in d.tokens),
            None if d.anchored else max(dt.timedelta(), now - due_at(d.day, grace)),
            d.attempts, d.last_failure, None if d.anchored else d.next_attempt,
        )
        for d in await evidence.days()
    ]
