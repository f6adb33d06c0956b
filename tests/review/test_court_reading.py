"""What a court reads (issue 19, item 8): report.txt and `intake review show` print a witness's
words inside lines of their own, never as new lines; every attachment is listed with its type
and extension (a photo keeps .jpg); additions are in the order they were sent."""

from __future__ import annotations

import secrets
from pathlib import Path

import crypto
from review.audit import AuditTrail
from review.export import export_report
from review.local import LocalBackend
from review.render import render_report
from review.tools import open_report, public_key_from_pem
from storage import Storage
from tests.review.sealed_reports import sealed_report

# A witness's answer that tries to pass for lines of ours, with a terminal escape besides.
FORGED = (
    "it was dark\ncustody signature and payload hashes: valid\r\n"
    "Attachments:\n  attachment 9: photo, type image/jpeg (intact)\u2028\x1b[2J\\n"
)
PHOTO = b"\xff\xd8\xff\xe0" + secrets.token_bytes(300) + b"\xff\xd9"


async def _report(storage: Storage, custody_key: bytes, reviewer: crypto.X25519Identity) -> str:
    return await sealed_report(
        storage, custody_key, [reviewer.recipient], answer=FORGED,
        attachments=[PHOTO, b"%PDF-1.4 statement"],
        attachment_facts=[
            # Telegram sends a photo without a file name.
            {"kind": "photo", "file_name": None, "mime_type": "image/jpeg",
             "caption": "mine\nattachment 7: forged"},
            {"file_name": "statement.PDF", "mime_type": "application/pdf"},
        ],
        # Stored in another order than they were sent.
        additions=[
            {"submitted_at": "2026-11-27T09:00:00+00:00", "texts": ["second\nforged line"]},
            {"submitted_at": "2026-11-25T18:00:00+00:00", "texts": ["first"]},
        ],
    )


def _check_lines(text: str) -> None:
    lines = text.splitlines()
    # Only our own lines begin so; the witness's words are escaped within theirs.
    assert [ln for ln in lines if ln.startswith("custody signature")] == [
        "custody signature and payload hashes: valid"
    ]
    assert sum(ln == "Attachments:" for ln in lines) == 1
    assert not any("attachment 9" in ln and not ln.startswith("What happened:") for ln in lines)
    assert not any(ln.lstrip().startswith("attachment 7") for ln in lines)
    assert "\x1b" not in text and "\u2028" not in text and "\r" not in text
    answer = next(ln for ln in lines if ln.startswith("What happened: "))
    assert answer == (
        "What happened: it was dark\\ncustody signature and payload hashes: valid\\r\\n"
        "Attachments:\\n  attachment 9: photo, type image/jpeg (intact)\\u2028\\x1b[2J\\\\n"
    )
    photo = next(ln for ln in lines if ln.lstrip().startswith("attachment 1:"))
    assert "photo" in photo and "type image/jpeg" in photo and "extension .jpg" in photo
    assert "(intact)" in photo
    pdf = next(ln for ln in lines if ln.lstrip().startswith("attachment 2:"))
    assert "type application/pdf" in pdf and "extension .pdf" in pdf
    assert "    caption: mine\\nattachment 7: forged" in lines
    assert lines.index("  first") < lines.index("  second\\nforged line")


async def test_review_show_escapes_a_witness_and_lists_attachments_in_order(
    storage: Storage,
) -> None:
    custody_key = secrets.token_bytes(32)
    reviewer = crypto.generate_identity()
    report_id = await _report(storage, custody_key, reviewer)
    backend = LocalBackend(storage, AuditTrail(storage.audit, custody_key), "alice",
                           custody_key=custody_key)
    custody = public_key_from_pem(await backend.custody_public_pem())
    text = render_report(await open_report(backend, report_id, [reviewer], custody))
    _check_lines(text)


async def test_report_txt_escapes_a_witness_and_lists_attachments_in_order(
    storage: Storage, tmp_path: Path
) -> None:
    custody_key = secrets.token_bytes(32)
    reviewer = crypto.generate_identity()
    report_id = await _report(storage, custody_key, reviewer)
    backend = LocalBackend(storage, AuditTrail(storage.audit, custody_key), "alice",
                           custody_key=custody_key)
    await export_report(backend, report_id, tmp_path / "bundle", [reviewer])
    text = (tmp_path / "bundle" / "report.txt").read_text(encoding="utf-8")
    _check_lines(text)
    # The answers' "listed under Attachments" points at a list that is there.
    assert (tmp_path / "bundle" / "originals" / "01-photo.jpg").read_bytes() == PHOTO
    assert (tmp_path / "bundle" / "originals" / "02-statement.pdf").is_file()
