"""Uwazi's CSV import package, part 3: each report decrypted here with what its entity needs.

The report (answers, attachments, additions) through review.tools.open_report, which also
checks the custody signature; the bot's metadata-free working copies of its images; the
additions' item numbers; and the reviewers' questions to the witness. Every item and message
decrypted is noted for the chain of custody, which the caller records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import crypto
from review.monitoring.collect import all_summaries, question_reader
from review.monitoring.uwazi_rows import Source
from review.tools import CustodySource, open_report, public_key_from_pem
from storage import ItemRole

Progress = Callable[[int, int], None]


async def uwazi_sources(
    backend: CustodySource,
    identities: Sequence[crypto.Identity],
    status: str | None,
    label: str | None,
    decrypted: list[tuple[str, int]],
    asked: list[tuple[str, str]],
    progress: Progress,
) -> list[Source | None]:
    """A Source per report kept by the filters; None for a report not sealed to these keys."""
    custody = public_key_from_pem(await backend.custody_public_pem())
    questions = question_reader(backend, identities, asked)
    summaries = [
        s for s in await all_summaries(backend)
        if (status is None or s.status == status) and (label is None or label in s.labels)
    ]
    sources: list[Source | None] = []
    for done, summary in enumerate(summaries, start=1):
        progress(done, len(summaries))
        rid = summary.report_id
        try:
            opened = await open_report(backend, rid, list(identities), custody)
        except crypto.DecryptionError:
            sources.append(None)
            continue
        stored = await backend.get_report(rid)
        decrypted += [(rid, item.seq) for item in stored.items
                      if item.role is not ItemRole.WORKING_COPY]
        copies: dict[int, bytes] = {}
        for item in stored.items:
            if item.role is ItemRole.WORKING_COPY and item.parent_seq is not None:
                payload = await backend.read_payload(rid, item.seq)
                try:
                    copies[item.parent_seq] = crypto.open_bytes(
                        item.header, payload, list(identities))
                except crypto.DecryptionError:
                    continue
                decrypted.append((rid, item.seq))
        sources.append(Source(
            report=opened, manifest=stored.manifest, working_copies=copies,
            addition_items=tuple(i.seq for i in stored.items if i.role is ItemRole.ADDITION),
            questions=tuple(await questions(rid)),
        ))
    return sources
