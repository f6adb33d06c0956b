"""The files this package adds to an evidence bundle, through one hook in review/export.py."""

from __future__ import annotations

from collections.abc import Mapping

from review.custody.chain import custody_files
from review.custody.collection import collection_files, processing_files
from storage import StoredReport


async def evidence_files(
    backend: object, report: StoredReport, plain: Mapping[int, bytes], disclosure: str
) -> dict[str, bytes]:
    """custody/ (recording the export itself, naming the bundle's disclosure recipient),
    processing/ and the collection report."""
    files = processing_files(report, plain)
    files.update(collection_files(report, plain))
    files.update(await custody_files(backend, report, disclosure))
    return files
