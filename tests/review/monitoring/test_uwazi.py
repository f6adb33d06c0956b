"""The Uwazi package passes a validator written from Uwazi's documented import rules."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.core import DEFAULT_QUESTIONNAIRE
from cli.main import main
from crypto.custody import custody_public_key, verify_manifest
from review.monitoring.records import questionnaire_shape
from review.monitoring.uwazi import MappingError, check_against, load_mapping, parse_mapping
from tests.review.monitoring.conftest import Queue
from tests.review.monitoring.uwazi_rules import Property, validate

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "examples" / "uwazi-events.toml"
# The events template and its thesauri as an Uwazi administrator would set them up.
TEMPLATE = {
    "type_of_event": Property("select", frozenset({
        "Arbitrary arrest and detention", "Violence against persons", "Destruction of property",
        "Threats and intimidation", "Other"})),
    "description": Property("markdown"),
    "date_of_event": Property("date"),
    "location": Property("geolocation"),
    "place_name": Property("text"),
    "place_of_detention": Property("text"),
    "victims": Property("multiselect", frozenset({
        "The witness", "People known to the witness", "Other people", "Children",
        "A group or community"})),
    "perpetrators": Property("text"),
    "witness_safety": Property("select", frozenset({"Safe", "In danger", "Not stated"})),
    "intake_report_id": Property("text"),
    "date_received": Property("date"),
    "evidence_sha256": Property("markdown"),
}
VICTIMS = {"me": "The witness", "known": "People known to the witness", "others": "Other people",
           "children": "Children", "community": "A group or community"}


def _export(queue: Queue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv("INTAKE_DATA_DIR", str(queue.data_dir))
    out = tmp_path / "uwazi.zip"
    result = CliRunner().invoke(main, [
        "review", "--as", "alice", "export-uwazi", "-i", str(queue.identity_file),
        "--mapping", str(EXAMPLE), "--out", str(out), "--label", "verified",
    ])
    assert result.exit_code == 0, result.output
    assert "plaintext" in result.output
    return out.read_bytes()


def test_package_passes_the_import_rules_and_carries_the_evidence(
    queue: Queue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every rule holds; every value, file, hash and custody signature matches the report."""
    problems, rows, files = validate(_export(queue, tmp_path, monkeypatch), TEMPLATE,
                                     "YYYY/MM/DD")
    assert problems == []
    truths = {t.report_id: t for t in queue.truths if t.readable and "verified" in t.labels}
    assert sorted(r["intake_report_id"] for r in rows) == sorted(truths)
    custody = custody_public_key(queue.custody_key)
    checked_points = 0
    for row in rows:
        truth = truths[row["intake_report_id"]]
        assert row["description"] == truth.what
        assert row["date_of_event"] == (truth.when.strftime("%Y/%m/%d") if truth.when else "")
        assert row["date_received"] == truth.received_day.strftime("%Y/%m/%d")
        assert set(filter(None, row["victims"].split("|"))) == {VICTIMS[a] for a in truth.affected}
        if truth.point is not None:
            lat, lon = (float(p) for p in row["location"].split("|"))
            assert (lat, lon) == truth.point
            checked_points += 1
        else:
            assert row["location"] == ""
            assert row["place_name"] == (truth.place_text or "")
        attached = row["attachments"].split("|")
        rid = truth.report_id
        assert f"{rid}-manifest.json" in attached and f"{rid}-manifest.sig" in attached
        assert verify_manifest(custody, files[f"{rid}-manifest.json"], files[f"{rid}-manifest.sig"])
        hashes = dict(line.split(": ") for line in row["evidence_sha256"].splitlines())
        assert set(hashes) == set(attached)
        for name in attached:
            assert hashlib.sha256(files[name]).hexdigest() == hashes[name]
        originals = sorted(hashes[n] for n in attached if not n.startswith(f"{rid}-manifest"))
        assert originals == sorted(truth.attachment_sha256)
        assert row["title"]
    assert checked_points > 5
    assert any(row["attachments"].count("|") >= 2 for row in rows)


def _zip(csv_text: str, files: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("import.csv", csv_text)
        for name, data in (files or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(("csv_text", "problem"), [
    ("description\r\nno title column\r\n", "no title column"),
    ("title,colour\r\nA,red\r\n", "colour: not a property"),
    ("title,date_of_event\r\nA,31/05/2026\r\n", "not a date"),
    ("title,location\r\nA,\"50.4, 30.5\"\r\n", "not lat|lon"),
    ("title,victims\r\nA,\"Children, Other people\"\r\n", "not in the thesaurus"),
    ("title,type_of_event\r\nA,Other|Violence against persons\r\n", "one value only"),
    ("title,attachments\r\nA,missing.jpg\r\n", "missing.jpg is not in the zip"),
    ("title,description\r\n,no title\r\n", "no title"),
])
def test_the_validator_catches_each_broken_rule(csv_text: str, problem: str) -> None:
    """The validator is not a rubber stamp: each documented rule, broken, is reported."""
    problems, _rows, _files = validate(_zip(csv_text), TEMPLATE, "YYYY/MM/DD")
    assert any(problem in p for p in problems), problems


def test_mapping_problems_are_named_with_their_fix(tmp_path: Path) -> None:
    """A choice without a thesaurus value, a bad date format or a bad name is refused clearly."""
    shape = questionnaire_shape(DEFAULT_QUESTIONNAIRE)
    check_against(load_mapping(EXAMPLE), shape)
    missing = parse_mapping({"properties": [
        {"name": "type_of_event", "type": "select", "question": "category",
         "values": {"detention": "Detention"}}]})
    with pytest.raises(MappingError, match="add values for the choices violence, property"):
        check_against(missing, shape)
    with pytest.raises(MappingError, match="date format"):
        parse_mapping({"collection": {"date_format": "YYYY/YYYY/DD"}})
    with pytest.raises(MappingError, match="lowercase with underscores"):
        parse_mapping({"properties": [{"name": "Type Of Event", "type": "text",
                                       "question": "what"}]})
    with pytest.raises(MappingError, match="no question 'nope'"):
        check_against(parse_mapping({"properties": [
            {"name": "x", "type": "text", "question": "nope"}]}), shape)
    broken = tmp_path / "m.toml"
    broken.write_text("[collection\n")
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(broken)
