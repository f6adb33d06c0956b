"""The collection report and the processing records of a bundle (issue 10, items 3 and 4).

Both are read from the sealed documents the bot wrote at intake (the answers document and any
additions): what software took the report, with which questionnaire, how each file arrived,
its SHA-256 at intake, what the witness agreed to, and for each working copy what was removed
and by which tool. A fact an older report did not record is written as "not recorded", never
guessed.

    collection.json, collection.txt   the collection report, as data and as text
    processing/NN-working-copy.json   the processing record of working copy NN
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from storage import ItemRole, StoredReport

NOT_RECORDED: Final = "not recorded"
COLLECTION_FORMAT: Final = "incident-intake/collection/v1"

# How a file reached the bot, by the kind Telegram delivered it as (bot/telegram/updates.py).
ARRIVAL: Final = {
    "photo": "sent as a Telegram photo: Telegram recompressed it and removed its camera "
             "metadata (location included) before the bot received it",
    "video": "sent as a Telegram video (or video message, or animation): the sending app may "
             "have recompressed it",
    "voice": "recorded and sent as a Telegram voice message",
    "audio": "sent as an audio file",
    "document": "sent as a file (document): received byte for byte as the witness's device "
                "held it",
}


def _documents(report: StoredReport, plain: Mapping[int, bytes]) -> list[dict[str, Any]]:
    """The answers document, then each addition document, as parsed JSON ({} if unreadable)."""
    found = []
    for item in report.items:
        if item.role in (ItemRole.ANSWERS, ItemRole.ADDITION):
            try:
                document = json.loads(plain[item.seq])
            except (KeyError, ValueError):
                document = {}
            found.append(document if isinstance(document, dict) else {})
    return found


def _facts(documents: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    facts: dict[int, dict[str, Any]] = {}
    for document in documents:
        for entry in document.get("attachments", []) or []:
            if isinstance(entry, dict):
                seq = entry.get("item", entry.get("seq"))
                if isinstance(seq, int):
                    facts[seq] = entry
    return facts


def processing_files(report: StoredReport, plain: Mapping[int, bytes]) -> dict[str, bytes]:
    """processing/NN-working-copy.json for every working copy of the report."""
    facts = _facts(_documents(report, plain))
    files = {}
    for item in report.items:
        if item.role is not ItemRole.WORKING_COPY:
            continue
        recorded = facts.get(item.parent_seq or -1, {}).get("processing")
        record: dict[str, Any] = {"working_copy_item": item.seq, "original_item": item.parent_seq}
        if isinstance(recorded, dict):
            record.update(recorded)
        else:
            record.update({"tool": NOT_RECORDED, "tool_version": NOT_RECORDED,
                           "removed": NOT_RECORDED, "steps": NOT_RECORDED,
                           "original_sha256": facts.get(item.parent_seq or -1, {}).get(
                               "sha256", NOT_RECORDED),
                           "copy_sha256": _sha(plain.get(item.seq))})
        name = f"processing/{item.seq:02d}-working-copy.json"
        files[name] = _json(record)
    return files


def _sha(data: bytes | None) -> str:
    return NOT_RECORDED if data is None else hashlib.sha256(data).hexdigest()


def _json(value: object) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"


def _how(item_role: ItemRole, fact: Mapping[str, Any], parent: int | None) -> tuple[str, str]:
    if item_role is ItemRole.ANSWERS:
        return "answers", "written by the bot from the witness's answers in the conversation"
    if item_role is ItemRole.ADDITION:
        return "addition", "words and files the witness added later with their receipt code"
    if item_role is ItemRole.WORKING_COPY:
        return "working copy", (f"made by the bot from item {parent}, metadata removed "
                                f"(processing/ has the record)")
    kind = fact.get("kind")
    if not isinstance(kind, str):
        return NOT_RECORDED, NOT_RECORDED
    return kind, ARRIVAL.get(kind, f"sent as a Telegram {kind}")


def _consents(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    collection = document.get("collection")
    if isinstance(collection, dict) and isinstance(collection.get("consents"), list):
        return [c for c in collection["consents"] if isinstance(c, dict)]
    # Older reports: the consent answers are there, the words the witness read are not.
    return [
        {"question": a.get("question"), "label": a.get("label"), "answer": a.get("choice"),
         "text": NOT_RECORDED}
        for a in document.get("answers", []) or []
        if isinstance(a, dict) and a.get("type") == "consent"
    ]


def collection_report(report: StoredReport, plain: Mapping[int, bytes]) -> dict[str, Any]:
    documents = _documents(report, plain)
    answers = documents[0] if documents else {}
    facts = _facts(documents)
    try:
        listed = {e["seq"]: e for e in json.loads(report.manifest)["items"]}
    except (ValueError, KeyError, TypeError):
        listed = {}
    collection = answers.get("collection") if isinstance(answers.get("collection"), dict) else {}
    questionnaire = answers.get("questionnaire") or {}
    items = []
    for item in report.items:
        fact = facts.get(item.seq, {})
        arrived_as, how = _how(item.role, fact, item.parent_seq)
        at_intake = fact.get("sha256") if item.role is ItemRole.ATTACHMENT else None
        if item.role in (ItemRole.ANSWERS, ItemRole.ADDITION):
            # The bot wrote this document at intake and sealed it at once: the payload signed
            # on arrival opens to exactly these bytes (authenticated encryption), so their hash
            # now is their hash at intake, not a guess.
            at_intake = _sha(plain.get(item.seq))
        if item.role is ItemRole.WORKING_COPY:
            at_intake = (facts.get(item.parent_seq or -1, {}).get("processing") or {}).get(
                "copy_sha256")
        items.append({
            "seq": item.seq,
            "role": item.role.value,
            "parent_seq": item.parent_seq,
            "arrived_as": arrived_as,
            "how": how,
            # The file's own SHA-256 as the bot computed it at intake (inside the sealed
            # answers), and the sealed payload's as the server signed it on arrival.
            "sha256_at_intake": at_intake or NOT_RECORDED,
            "payload_sha256_signed_on_arrival": listed.get(item.seq, {}).get(
                "payload_sha256", NOT_RECORDED),
            "sha256_now": _sha(plain.get(item.seq)),
        })
    places = [
        {"question": a.get("question"),
         "arrived_as": "a location shared in Telegram" if a.get("latitude") is not None
         else "typed text"}
        for a in answers.get("answers", []) or []
        if isinstance(a, dict) and a.get("type") == "place" and not a.get("skipped")
    ]
    return {
        "format": COLLECTION_FORMAT,
        "report": report.summary.report_id,
        "received_day": str(report.summary.received_day),
        "software": (collection or {}).get("software") or NOT_RECORDED,
        "questionnaire": {
            "id": questionnaire.get("id", NOT_RECORDED),
            "version": questionnaire.get("version", NOT_RECORDED),
            "sha256": questionnaire.get("sha256") or NOT_RECORDED,
        },
        "language": answers.get("language", NOT_RECORDED),
        "items": items,
        "places": places,
        "consents": _consents(answers),
    }


def collection_text(report: Mapping[str, Any]) -> str:
    software = report["software"]
    q = report["questionnaire"]
    lines = [
        f"Collection report for report {report['report']} (received {report['received_day']})",
        "",
        "Software: " + (software if isinstance(software, str)
                        else f"{software.get('name')} {software.get('version')}"),
        f"Questionnaire: {q['id']} version {q['version']}, SHA-256 {q['sha256']}",
        f"Conversation language: {report['language']}",
        "",
        "Items:",
    ]
    for item in report["items"]:
        lines += [
            f"  {item['seq']:02d} {item['role']}: {item['how']}",
            f"     SHA-256 at intake: {item['sha256_at_intake']}",
            f"     sealed payload SHA-256 signed on arrival: "
            f"{item['payload_sha256_signed_on_arrival']}",
        ]
    if report["places"]:
        lines += ["", "Places:"]
        lines += [f"  {p['question']}: {p['arrived_as']}" for p in report["places"]]
    lines += ["", "What the witness agreed to:"]
    if not report["consents"]:
        lines.append("  no consent question was answered (" + NOT_RECORDED + ")")
    for consent in report["consents"]:
        lines.append(f"  {consent.get('question')}: answered {consent.get('answer')!r} to:")
        lines += [f"    {line}" for line in str(consent.get("text")).splitlines()]
    lines += ["", "\"not recorded\": this report was taken before the fact was recorded; it is "
              "not guessed.", ""]
    return "\n".join(lines)


def collection_files(report: StoredReport, plain: Mapping[int, bytes]) -> dict[str, bytes]:
    found = collection_report(report, plain)
    return {
        "collection.json": _json(found),
        "collection.txt": collection_text(found).encode("utf-8"),
    }
