"""A small real queue whose witnesses type formulas, write Ukrainian, and add to their reports.

Reports go through the bot's own submitter (tests/review/test_console.py's submit_report), a
reviewer's question is sealed by review.tools.ask_witness, and the witness's reply through the
bot's FollowUpService, all into a real SQLite data directory that `intake review ...` reads
(INTAKE_DATA_DIR) and a Console can serve.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import crypto
from bot.core import MediaRef
from bot.core.draft import PlaceAnswer, TextAnswer
from bot.followup import FollowUpService
from bot.submission import fetch_from_memory
from review.audit import AuditTrail
from review.local import LocalBackend
from review.recipients import add_reviewer
from review.tools import ask_witness
from storage import Storage, default_sqlite_url
from storage.server_keys import load_or_create_server_keys
from tests.review.test_console import submit_report

# A witness's answer a spreadsheet would run, in the four forms the issue names, and the two
# starts OWASP adds (a tab, a carriage return).
FORMULAS = ('=HYPERLINK("http://x","click")', "+1", "-1", "@SUM(1)", "\t=1+2", "\r=3+4")
UKRAINIAN = "Затримали біля ринку, відвезли до відділку"
QUESTION = "Which street was it?"
REPLY = "It was Market Street.\nNear the bakery."
ADDED_FILE = b"%PDF-1.4 a witness's later document"


@dataclass(frozen=True)
class SmallQueue:
    data_dir: Path
    database_url: str
    custody_key: bytes
    reviewer: crypto.X25519Identity
    identity_file: Path
    formula_reports: dict[str, str]  # report id -> the formula its witness typed
    ukrainian_report: str
    followed_up: str  # the report with a question and an addition


async def _build(data_dir: Path, reviewer: crypto.X25519Identity) -> SmallQueue:
    keys = load_or_create_server_keys(data_dir)
    url = default_sqlite_url(data_dir)
    storage = await Storage.open(url, data_dir / "blobs")
    try:
        await add_reviewer(storage, "alice", str(reviewer.recipient))
        formulas = {}
        for formula in FORMULAS:
            receipt = await submit_report(storage, keys, formula, answers={
                "where": PlaceAnswer(formula), "perpetrators": TextAnswer(formula),
                "taken_to": TextAnswer(formula),
            })
            formulas[receipt.report_id] = formula
        ukrainian = (await submit_report(storage, keys, UKRAINIAN, language="uk", answers={
            "where": PlaceAnswer("Харків")})).report_id
        followed = (await submit_report(storage, keys, "first account")).report_id
        backend = LocalBackend(storage, AuditTrail(storage.audit, keys.custody_key), "alice",
                               custody_key=keys.custody_key)
        await ask_witness(backend, followed, QUESTION)
        later = MediaRef("document", "later", len(ADDED_FILE), "later.pdf", "application/pdf")
        await FollowUpService(storage, keys).add(
            followed, [REPLY], [later], fetch_from_memory({"later": ADDED_FILE}),
            submission_key=b"s" * 32)
    finally:
        await storage.close()
    identity_file = data_dir.parent / "alice.key"
    identity_file.write_text(f"{reviewer}\n")
    return SmallQueue(data_dir, url, keys.custody_key, reviewer, identity_file, formulas,
                      ukrainian, followed)


def build_small_queue(base: Path) -> SmallQueue:
    data_dir = base / "data"
    data_dir.mkdir(parents=True)
    return asyncio.run(_build(data_dir, crypto.generate_identity()))
