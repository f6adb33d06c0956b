"""Processing records and the collection report (issue 10, items 3 and 4).

A report goes through the bot's own submitter (real Pillow, real sealing), is exported with the
reviewer's tool, and the bundle's processing/ and collection files are read back; an older
report, sealed without these facts, says "not recorded" instead of guessing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import secrets
from pathlib import Path

import PIL
from PIL import Image

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE, Conversation, Draft, MediaRef, load_questionnaire
from bot.core.draft import ChoiceAnswer, DateAnswer, MediaAnswer, PlaceAnswer, TextAnswer
from bot.i18n import translations
from bot.submission import SOFTWARE, ReportSubmitter, fetch_from_memory
from review.audit import AuditTrail
from review.custody.verify import check_custody_chain
from review.export import export_report
from review.local import LocalBackend
from storage import ItemRole, Storage
from storage.server_keys import load_or_create_server_keys
from tests.review.sealed_reports import sealed_report


def camera_photo() -> bytes:
    """A JPEG as a phone camera writes it: make, model, time, and a GPS position."""
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Phone 9"  # Model
    exif[0x0112] = 6  # Orientation: rotated
    exif.get_ifd(0x8769)[0x9003] = "2026:05:31 10:15:00"  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (50.0, 27.0, 0.0)  # GPSLatitudeRef, GPSLatitude
    gps[3], gps[4] = "E", (30.0, 31.0, 0.0)  # GPSLongitudeRef, GPSLongitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"shot near the bridge")
    return out.getvalue()


async def test_working_copy_record_and_collection_report(
    storage: Storage, tmp_path: Path
) -> None:
    """The copy's record names what was removed (not its values), the tool and version, and both
    hashes; the collection report says how each file arrived, its hash at intake, the software,
    the questionnaire's hash and the consent the witness gave, in their words."""
    keys = load_or_create_server_keys(tmp_path / "server")
    reviewer = crypto.generate_identity()
    await storage.recipients.add("rita", str(reviewer.recipient),
                                 crypto.key_id(reviewer.recipient), dt.date(2026, 6, 1))
    photo, statement = camera_photo(), b"%PDF-1.4 a statement"
    questionnaire = load_questionnaire(DEFAULT_QUESTIONNAIRE)
    conversation = Conversation(questionnaire, translations)
    refs = [MediaRef("document", "a", len(photo), "IMG_0001.jpg", "image/jpeg"),
            MediaRef("document", "b", len(statement), "statement.pdf", "application/pdf"),
            MediaRef("photo", "c", len(photo), None, "image/jpeg")]
    draft = Draft(draft_id=secrets.token_hex(8), language="uk", answers={
        "safety": ChoiceAnswer("yes"),
        "category": ChoiceAnswer("violence"),
        "what": TextAnswer("what happened"),
        "when": DateAnswer(dt.date(2026, 5, 31)),
        "where": PlaceAnswer("", 50.45, 30.52),
        "evidence": MediaAnswer(tuple(refs)),
    })
    receipt = await ReportSubmitter(storage, keys, conversation).submit(
        draft, submission_id=secrets.token_hex(8),
        fetch=fetch_from_memory({"a": photo, "b": statement, "c": photo}),
    )
    report = await storage.reports.get(receipt.report_id)
    assert report is not None
    roles = [(i.seq, i.role, i.parent_seq) for i in report.items]
    assert roles == [(0, ItemRole.ANSWERS, None), (1, ItemRole.ATTACHMENT, None),
                     (2, ItemRole.WORKING_COPY, 1), (3, ItemRole.ATTACHMENT, None),
                     (4, ItemRole.ATTACHMENT, None), (5, ItemRole.WORKING_COPY, 4)]

    backend = LocalBackend(storage, AuditTrail(storage.audit, keys.custody_key), "rita",
                           custody_key=keys.custody_key)
    out = tmp_path / "bundle"
    await export_report(backend, receipt.report_id, out, [reviewer])

    # Item 3: the processing record, sealed in the answers document and in the bundle.
    document = json.loads((out / "originals/00-answers.json").read_bytes())
    assert "processing" not in document["attachments"][1]  # a PDF gets no working copy
    record = json.loads((out / "processing/02-working-copy.json").read_bytes())
    assert record["working_copy_item"] == 2 and record["original_item"] == 1
    assert (record["tool"], record["tool_version"]) == ("Pillow", PIL.__version__)
    removed = record["removed"]
    assert {"Make", "Model", "Orientation", "DateTimeOriginal"} <= set(removed["exif"])
    assert {"GPS.GPSLatitude", "GPS.GPSLongitude"} <= set(removed["exif"])
    assert removed["other"] == ["comment"]
    assert record["original_sha256"] == hashlib.sha256(photo).hexdigest()
    copy = (out / "working-copies/02-IMG_0001.jpg").read_bytes()
    assert record["copy_sha256"] == hashlib.sha256(copy).hexdigest()
    assert Image.open(io.BytesIO(copy)).getexif() == {}
    # Names, never values: neither the camera, the place nor the comment is in the record.
    text = json.dumps(record)
    assert "PhoneMaker" not in text and "bridge" not in text and "50.0" not in text
    # The bundle's copy is the sealed record plus the original's item number.
    sealed = {k: v for k, v in record.items() if k != "original_item"}
    assert document["attachments"][0]["processing"] == sealed

    # Item 4: the collection report.
    collection = json.loads((out / "collection.json").read_bytes())
    assert collection["software"] == SOFTWARE and SOFTWARE["name"] == "incident-intake"
    assert collection["questionnaire"] == {
        "id": questionnaire.id, "version": questionnaire.version,
        "sha256": hashlib.sha256(DEFAULT_QUESTIONNAIRE.read_bytes()).hexdigest(),
    }
    items = {i["seq"]: i for i in collection["items"]}
    assert items[1]["arrived_as"] == "document" and "byte for byte" in items[1]["how"]
    assert items[4]["arrived_as"] == "photo" and "recompressed" in items[4]["how"]
    assert items[2]["arrived_as"] == "working copy"
    assert items[3]["sha256_at_intake"] == hashlib.sha256(statement).hexdigest()
    assert items[2]["sha256_at_intake"] == hashlib.sha256(copy).hexdigest()
    manifest = {e["seq"]: e for e in json.loads(report.manifest)["items"]}
    assert all(items[s]["payload_sha256_signed_on_arrival"] == manifest[s]["payload_sha256"]
               for s in items)
    assert collection["places"] == [{"question": "where",
                                     "arrived_as": "a location shared in Telegram"}]
    (consent,) = collection["consents"]
    safety = questionnaire.question("safety")
    assert consent == {"question": "safety", "answer": "yes", "text": safety.text.get("uk")}
    readable = (out / "collection.txt").read_text()
    assert safety.text.get("uk").splitlines()[0] in readable
    assert "recompressed" in readable and SOFTWARE["version"] in readable
    assert "not recorded" not in json.dumps(collection)
    sums = (out / "SHA256SUMS").read_text()
    for name in ("collection.json", "collection.txt", "processing/02-working-copy.json",
                 "processing/05-working-copy.json"):
        assert name in sums
    assert check_custody_chain(out) == []


async def test_older_reports_say_not_recorded(storage: Storage, tmp_path: Path) -> None:
    """A report sealed before these facts were recorded gets "not recorded", not a guess."""
    custody_key = secrets.token_bytes(32)
    reviewer = crypto.generate_identity()
    report_id = await sealed_report(storage, custody_key, [reviewer.recipient],
                                    attachments=[b"\xff\xd8\xff old photo"], working_copies=True)
    backend = LocalBackend(storage, AuditTrail(storage.audit, custody_key), "rita",
                           custody_key=custody_key)
    out = tmp_path / "bundle"
    await export_report(backend, report_id, out, [reviewer])
    collection = json.loads((out / "collection.json").read_bytes())
    assert collection["software"] == "not recorded"
    assert collection["questionnaire"]["sha256"] == "not recorded"
    assert collection["consents"] == []
    items = {i["seq"]: i for i in collection["items"]}
    assert items[1]["arrived_as"] == "document"  # the kind was always recorded
    assert items[2]["sha256_at_intake"] == "not recorded"
    record = json.loads((out / "processing/02-working-copy.json").read_bytes())
    assert record["tool"] == "not recorded" and record["removed"] == "not recorded"
    assert "not recorded" in (out / "collection.txt").read_text()
