"""The Uwazi package follows Uwazi's own import code: one test per rule.

Each rule was read in huridocs/uwazi (the file is named in each test) and re-stated in the
validator, tests/review/monitoring/uwazi_rules.py; each test shows the package keeps the rule,
and that the validator catches the package that breaks it (so a package it passes imports).
The queue (uwazi_queue.py) has 88 reports with multi-line hostile text, shared locations,
dates, grouped thesauri, files of every kind and a follow-up: its import.csv is over 64 KiB.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.core import DEFAULT_QUESTIONNAIRE
from cli.main import main
from review.monitoring.records import questionnaire_shape
from review.monitoring.uwazi import MappingError, check_against, load_mapping, parse_mapping
from review.monitoring.uwazi_rows import Entity, escape_markdown, import_csv
from tests.review.monitoring.uwazi_queue import (
    HOSTILE_LINES,
    UwaziQueue,
    add_reports,
    build_uwazi_queue,
)
from tests.review.monitoring.uwazi_rules import (
    Property,
    Template,
    _check,
    header_peek_problems,
    markdown_text,
    validate,
)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "examples" / "uwazi-events.toml"
EVENTS = frozenset({
    "Deprivation of liberty::Arbitrary arrest and detention",
    "Physical integrity::Violence against persons", "Destruction of property",
    "Threats and intimidation", "Other"})
VICTIMS = {"me": "The witness", "known": "People known to the witness", "others": "Other people",
           "children": "Children", "community": "A group or community"}
# The events template and its thesauri as an Uwazi administrator would set them up.
TEMPLATE = Template({
    "type_of_event": Property("select", EVENTS),
    "description": Property("markdown"),
    "date_of_event": Property("date"),
    "location_geolocation": Property("geolocation"),
    "location_approximate": Property("select", frozenset({
        "Approximate (coarsened by the witness)", "As measured by the phone"})),
    "place_name": Property("text"),
    "place_of_detention": Property("text"),
    "victims": Property("multiselect", frozenset(VICTIMS.values())),
    "perpetrators": Property("text"),
    "witness_safety": Property("select", frozenset({"Safe", "In danger", "Not stated"})),
    "intake_report_id": Property("text"),
    "date_received": Property("date"),
    "follow_up": Property("markdown"),
    "evidence_bundle": Property("link"),
    "evidence_sha256": Property("markdown"),
})


@dataclass(frozen=True)
class Exported:
    queue: UwaziQueue
    package: bytes
    output: str
    ledger: Path


def _export(queue: UwaziQueue, out: Path, ledger: Path, *extra: str,
            mapping: Path = EXAMPLE) -> str:
    result = CliRunner().invoke(main, [
        "review", "--as", "alice", "export-uwazi", "-i", str(queue.identity_file),
        "--mapping", str(mapping), "--out", str(out), "--ledger", str(ledger), *extra,
    ], env={"INTAKE_DATA_DIR": str(queue.data_dir)})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    base = tmp_path_factory.mktemp("uwazi")
    queue = build_uwazi_queue(base)
    out = base / "uwazi.zip"
    output = _export(queue, out, base / "ledger.age")
    yield Exported(queue, out.read_bytes(), output, base / "ledger.age")


@pytest.fixture(scope="module")
def checked(exported: Exported) -> tuple[list[dict[str, str]], dict[str, bytes]]:
    problems, rows, files = validate(exported.package, TEMPLATE)
    assert problems == []
    return rows, files


def _rows_by_id(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {r["intake_report_id"]: r for r in rows}


def test_the_package_is_large_and_everything_passes(
    exported: Exported, checked: tuple[list[dict[str, str]], dict[str, bytes]]
) -> None:
    """Over 64 KiB of import.csv, one row per report, every rule below holding at once."""
    rows, _files = checked
    with zipfile.ZipFile(io.BytesIO(exported.package)) as archive:
        assert len(archive.read("import.csv")) > 64 * 1024
    assert len(rows) == len(exported.queue.truths) + 3
    assert "plaintext" in exported.output


def _entity(description: str, report_id: str) -> Entity:
    row = {"title": "T", "description": escape_markdown(description),
           "intake_report_id": report_id}
    return Entity(report_id, row, {}, "")


def test_the_header_peek_reads_a_whole_row_at_16_kib(exported: Exported) -> None:
    """csv.ts peekHeaders: csvtojson reads the first 16 KiB chunk and is ended; a quoted cell
    open there is an unclosed_quote error. Wherever the boundary falls, the package pads."""
    with zipfile.ZipFile(io.BytesIO(exported.package)) as archive:
        assert header_peek_problems(archive.read("import.csv")) == []
    mapping = dataclasses.replace(
        load_mapping(EXAMPLE), properties=tuple(
            p for p in load_mapping(EXAMPLE).properties if p.name in (
                "description", "intake_report_id")), hashes_property=None, attachments=False)
    for shift in range(0, 1200, 7):
        entities = [_entity("x" * shift, f"{0:032x}"), *(
            _entity("line one, with a comma\nline two " + "y" * 300, f"{i:032x}")
            for i in range(1, 80))]
        data = import_csv(entities, mapping)
        assert header_peek_problems(data) == [], shift
    # The writer before this rule, a quoted multi-line cell across byte 16384, is caught.
    naive = b"title,description\r\n" + b"".join(
        b'T,"line one\nline two ' + b"y" * 300 + b'"\r\n' for _ in range(80))
    assert header_peek_problems(naive)


def test_text_cells_are_one_line_markdown_keeps_lines(
    exported: Exported, checked: tuple[list[dict[str, str]], dict[str, bytes]]
) -> None:
    """typeParsers.ts keeps text as it is, and Uwazi shows a text property on one line; a
    line break there is only trouble (and the 16 KiB peek). Markdown keeps its lines."""
    rows, _ = checked
    for row in rows:
        for name, value in row.items():
            if TEMPLATE.properties.get(name, Property("text")).type != "markdown":
                assert "\n" not in value, name
    problems, _, _ = validate(_zip("title,perpetrators,intake_report_id\r\n"
                                   f'T,"a\nb",{0:032x}\r\n'), TEMPLATE)
    assert any("line break" in p for p in problems)
    row = _rows_by_id(rows)[next(iter(exported.queue.truths))]
    assert row["perpetrators"] == "Men in uniform ¶ without insignia"


def test_locations_go_in_the_geolocation_column_as_lat_lon(
    exported: Exported, checked: tuple[list[dict[str, str]], dict[str, bytes]]
) -> None:
    """templates/utils.ts names a geolocation property <label>_geolocation; typeParsers/
    geolocation.ts reads `lat|lon` from that column and needs both."""
    rows = _rows_by_id(checked[0])
    points = 0
    for rid, truth in exported.queue.truths.items():
        cell = rows[rid]["location_geolocation"]
        if truth.point is None:
            assert cell == ""
        else:
            assert tuple(float(p) for p in cell.split("|")) == truth.point
            points += 1
    assert points > 10
    with pytest.raises(MappingError, match="location_geolocation"):
        parse_mapping({"properties": [
            {"name": "location", "type": "geolocation", "question": "where"},
            {"name": "intake_report_id", "type": "text", "field": "report_id"}]})
    problems, _, _ = validate(_zip(f"title,location,intake_report_id\r\nT,1|2,{0:032x}\r\n"),
                              dataclasses.replace(TEMPLATE, properties={
                                  **TEMPLATE.properties, "location": Property("geolocation")}))
    assert any("_geolocation" in p for p in problems)


def test_dates_are_iso_and_read_right_under_the_collection_format(
    exported: Exported, checked: tuple[list[dict[str, str]], dict[str, bytes]]
) -> None:
    """typeParsers.ts parseDateValue: moment tries the collection's format and YYYY-MM-DD;
    ISO dates are one date under any format but year-day-month, which the mapping refuses."""
    rows = _rows_by_id(checked[0])
    for rid, truth in exported.queue.truths.items():
        assert rows[rid]["date_of_event"] == (truth.when.isoformat() if truth.when else "")
    for collection in ("DD/MM/YYYY", "MM/DD/YYYY", "YYYY.MM.DD"):
        problems, _, _ = validate(exported.package,
                                  dataclasses.replace(TEMPLATE, date_format=collection))
        assert problems == [], collection
    with pytest.raises(MappingError, match="YYYY-MM-DD"):
        parse_mapping({"collection": {"date_format": "YYYY/DD/MM"}})
    # Written in the mapping's format for a collection set otherwise: 05/06 is ambiguous.
    problems, _, _ = validate(
        _zip(f"title,date_of_event,intake_report_id\r\nT,05/06/2026,{0:032x}\r\n"),
        dataclasses.replace(TEMPLATE, date_format="MM/DD/YYYY"))
    assert problems == []  # one reading under MM/DD...
    problems, _, _ = validate(
        _zip(f"title,date_of_event,intake_report_id\r\nT,2026-05-06,{0:032x}\r\n"),
        dataclasses.replace(TEMPLATE, date_format="YYYY/DD/MM"))
    assert any("not one date" in p for p in problems)


def test_grouped_thesaurus_values_are_group_colon_colon_value(
    exported: Exported, checked: tuple[list[dict[str, str]], dict[str, bytes]]
) -> None:
    """typeParsers/select.ts splits `Group::Value`; arrangeThesauri.ts adds a label it does not
    find as a new top-level value (the duplicate the issue saw) and refuses a group label."""
    rows = _rows_by_id(checked[0])
    detained = [rid for rid, t in exported.queue.truths.items() if t.category == "detention"]
    assert detained
    for rid in detained:
        assert rows[rid]["type_of_event"] == (
            "Deprivation of liberty::Arbitrary arrest and detention")
    for bad, problem in (("Arbitrary arrest and detention", "would add it as a new value"),
                         ("Deprivation of liberty", "is a group label"),
                         ("A::B::C", "too many parent-child separators")):
        problems, _, _ = validate(
            _zip(f"title,type_of_event,intake_report_id\r\nT,{bad},{0:032x}\r\n"), TEMPLATE)
        assert any(problem in p for p in problems), (bad, problems)


CYRILLIC = {
    "collection": {"date_format": "DD.MM.YYYY", "name": "uwazi.example.org/ua"},
    "title": {"pattern": "{category} · {short_id}"},
    "files": {"hashes_property": "докази_sha256"},
    "properties": [
        {"name": "вид_події", "type": "select", "question": "category", "values": {
            "detention": "Позбавлення волі::Затримання", "violence": "Насильство",
            "property": "Майно", "threats": "Погрози", "other": "Інше"}},
        {"name": "опис", "type": "markdown", "question": "what"},
        {"name": "дата_події", "type": "date", "question": "when"},
        {"name": "місце_geolocation", "type": "geolocation", "question": "where"},
        {"name": "номер_звіту", "type": "text", "field": "report_id"},
    ],
}


def test_non_ascii_property_names(exported: Exported, tmp_path: Path) -> None:
    """shared/propertyNames.ts: with new name generation safeName keeps letters of any script
    (lowercased), so a Cyrillic property name is its own column; a name safeName would change
    is refused with the name to use."""
    import json

    mapping = tmp_path / "ua.json"
    mapping.write_text(json.dumps(CYRILLIC, ensure_ascii=False), "utf-8")
    out = tmp_path / "ua.zip"
    _export(exported.queue, out, tmp_path / "ua-ledger.age", mapping=mapping)
    template = Template({
        "вид_події": Property("select", frozenset({
            "Позбавлення волі::Затримання", "Насильство", "Майно", "Погрози", "Інше"})),
        "опис": Property("markdown"), "дата_події": Property("date"),
        "місце_geolocation": Property("geolocation"), "номер_звіту": Property("text"),
        "докази_sha256": Property("markdown"),
    }, date_format="DD.MM.YYYY", id_property="номер_звіту")
    problems, rows, _ = validate(out.read_bytes(), template)
    assert problems == [] and len(rows) == len(exported.queue.truths) + 3
    old_names = dataclasses.replace(template, new_name_generation=False)
    assert validate(out.read_bytes(), old_names)[0]  # an old collection would not match
    with pytest.raises(MappingError, match="'опис_події'"):
        parse_mapping({"properties": [{"name": "Опис події", "type": "text",
                                       "question": "what"}]})


def test_the_public_id_is_a_property_and_uwazi_id_is_never_written(
    exported: Exported, checked: tuple[list[dict[str, str]], dict[str, bytes]]
) -> None:
    """importEntity.ts looks `id` up as an entity's sharedId (and updates that entity): the
    report's id goes in its own property, and every row has it."""
    rows = checked[0]
    assert set(_rows_by_id(rows)) >= set(exported.queue.truths)
    assert all("id" not in row for row in rows)
    with pytest.raises(MappingError, match="report_id"):
        parse_mapping({"properties": [{"name": "x", "type": "text", "question": "what"}]})
    problems, _, _ = validate(_zip(f"title,id,intake_report_id\r\nT,abc,{0:032x}\r\n"),
                              TEMPLATE)
    assert any("sharedId" in p for p in problems)


def test_a_second_export_holds_only_new_or_changed_reports(
    exported: Exported, tmp_path: Path
) -> None:
    """importEntity.ts makes a new entity of every row without Uwazi's id, so the next export
    to the same destination holds only reports that are new or changed (the ledger)."""
    import asyncio

    from bot.followup import FollowUpService
    from bot.submission import fetch_from_memory
    from storage import Storage
    from storage.server_keys import load_or_create_server_keys

    queue = exported.queue
    first_rows = _rows_by_id(validate(exported.package, TEMPLATE)[1])
    changed = next(iter(queue.truths))

    async def more() -> set[str]:
        storage = await Storage.open(queue.database_url, queue.data_dir / "blobs")
        try:
            added = await add_reports(storage, queue.data_dir, 2, seed=99)
            await FollowUpService(storage, load_or_create_server_keys(queue.data_dir)).add(
                changed, ["one more thing"], [], fetch_from_memory({}),
                submission_key=b"c" * 32)
        finally:
            await storage.close()
        return set(added)

    new = asyncio.run(more())
    ledger = tmp_path / "ledger.age"
    ledger.write_bytes(exported.ledger.read_bytes())
    out = tmp_path / "second.zip"
    output = _export(queue, out, ledger)
    problems, rows, _ = validate(out.read_bytes(), dataclasses.replace(
        TEMPLATE, imported=first_rows))
    assert problems == []
    assert {r["intake_report_id"] for r in rows} == new | {changed}
    assert "2 new, 1 changed" in output and "unchanged reports left out" in output
    again = tmp_path / "third.zip"
    _export(queue, again, ledger)
    assert validate(again.read_bytes(), TEMPLATE)[1] == []
    everything = tmp_path / "all.zip"
    _export(queue, everything, tmp_path / "other-ledger.age", "--all")
    problems, _, _ = validate(everything.read_bytes(), dataclasses.replace(
        TEMPLATE, imported=first_rows))
    assert any("imported unchanged before" in p for p in problems)


def test_witness_markdown_is_escaped(
    exported: Exported, checked: tuple[list[dict[str, str]], dict[str, bytes]]
) -> None:
    """markdownToReact.js renders markdown properties with markdown-it, raw HTML on, and
    embeds `{media}(...)`: witness text shows as the text it is, and nothing runs."""
    rows = _rows_by_id(checked[0])
    for rid, truth in exported.queue.truths.items():
        text, problems = markdown_text(rows[rid]["description"])
        assert problems == []
        assert text == truth.what
    problems, _, _ = validate(_zip(
        f"title,description,intake_report_id\r\nT,<img src=x onerror=alert(1)>,{0:032x}\r\n"
        f"T,{{media}}(http://e.example),{1:032x}\r\n"), TEMPLATE)
    assert any("HTML elements" in p for p in problems)
    assert any("component" in p for p in problems)


def test_line_feeds_are_kept_the_way_uwazi_shows_them(
    exported: Exported, checked: tuple[list[dict[str, str]], dict[str, bytes]]
) -> None:
    """markdown-it joins lines of a paragraph; each witness line break is a hard break, so
    Uwazi shows the witness's lines, and blank lines stay paragraph breaks."""
    rows = _rows_by_id(checked[0])
    for rid, truth in exported.queue.truths.items():
        shown, _ = markdown_text(rows[rid]["description"])
        assert shown.split("\n") == truth.what.split("\n")
    joined, _ = markdown_text("first\nsecond")
    assert joined == "first\nsecond" and "<br" not in joined  # a soft break shows as a space


def test_the_approximate_location_flag_is_a_property(
    exported: Exported, checked: tuple[list[dict[str, str]], dict[str, bytes]]
) -> None:
    rows = _rows_by_id(checked[0])
    for rid, truth in exported.queue.truths.items():
        expected = "" if truth.point is None else (
            "Approximate (coarsened by the witness)" if truth.approximate
            else "As measured by the phone")
        assert rows[rid]["location_approximate"] == expected


def test_the_evidence_bundle_hash_is_a_link_back(
    exported: Exported, checked: tuple[list[dict[str, str]], dict[str, bytes]]
) -> None:
    """typeParsers.ts link: `label|url`, dropped when the url has no host."""
    import asyncio

    from storage import Storage

    rows = _rows_by_id(checked[0])
    rid = list(exported.queue.truths)[-1]  # not the one a later test adds to

    async def manifest() -> bytes:
        storage = await Storage.open(exported.queue.database_url,
                                     exported.queue.data_dir / "blobs")
        try:
            report = await storage.reports.get(rid)
            assert report is not None
            return report.manifest
        finally:
            await storage.close()

    label, url = rows[rid]["evidence_bundle"].split("|")
    digest = hashlib.sha256(asyncio.run(manifest())).hexdigest()
    assert url == f"https://evidence.example.org/{rid}#sha256={digest}"
    assert label == f"Evidence bundle {rid[:8]}"
    problems, _, _ = validate(_zip(
        f"title,evidence_bundle,intake_report_id\r\nT,bundle|urn:sha256:{digest},{0:032x}\r\n"),
        TEMPLATE)
    assert any("host" in p for p in problems)


def test_images_go_as_working_copies_unless_originals_are_asked_for(
    exported: Exported, checked: tuple[list[dict[str, str]], dict[str, bytes]], tmp_path: Path
) -> None:
    from tests.review.monitoring.uwazi_queue import photo_with_gps

    rows, files = checked
    row = _rows_by_id(rows)[exported.queue.with_photo]
    (name,) = row["attachments"].split("|")
    assert files[name] != photo_with_gps()  # the validator found no EXIF in it either
    original = hashlib.sha256(photo_with_gps()).hexdigest()
    assert original in row["evidence_sha256"]  # the original's hash, to link the two
    out = tmp_path / "originals.zip"
    output = _export(exported.queue, out, tmp_path / "o.age", "--originals", "--all")
    assert "camera and location data" in output
    problems, rows, files = validate(out.read_bytes(), TEMPLATE)
    assert any("EXIF" in p for p in problems)
    (name,) = _rows_by_id(rows)[exported.queue.with_photo]["attachments"].split("|")
    assert files[name] == photo_with_gps()


def test_only_types_uwazi_shows_are_attached_the_rest_listed(
    exported: Exported, checked: tuple[list[dict[str, str]], dict[str, bytes]]
) -> None:
    """importEntity.ts stores every file named in `attachments`; an .html, .svg or .exe there
    would be served from the collection. They stay out, listed by name and hash."""
    from tests.review.monitoring.uwazi_queue import EXE, HTML, SVG

    row = _rows_by_id(checked[0])[exported.queue.with_files]
    assert row["attachments"] == ""
    listed = row["evidence_sha256"]
    for data in (HTML, SVG, EXE):
        assert hashlib.sha256(data).hexdigest() in listed
    assert "not shown by Uwazi" in listed
    problems, _, _ = validate(_zip(f"title,attachments,intake_report_id\r\nT,x.html,{0:032x}\r\n",
                                   {"x.html": b"<!doctype html><html></html>"}), TEMPLATE)
    assert any("does not show" in p for p in problems)


def test_follow_up_is_in_the_package(
    exported: Exported, checked: tuple[list[dict[str, str]], dict[str, bytes]]
) -> None:
    row = _rows_by_id(checked[0])[exported.queue.followed_up]
    text, problems = markdown_text(row["follow_up"])
    assert problems == []
    assert text.startswith("The witness added (item ")
    assert text.endswith("Second line of events\nwith <b>more</b>")


def _zip(csv_text: str, files: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("import.csv", csv_text)
        for name, data in (files or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def test_mapping_problems_are_named_with_their_fix(tmp_path: Path) -> None:
    """A choice without a thesaurus value, a bad date format or a bad name is refused clearly."""
    shape = questionnaire_shape(DEFAULT_QUESTIONNAIRE)
    check_against(load_mapping(EXAMPLE), shape)
    report_id = {"name": "intake_report_id", "type": "text", "field": "report_id"}
    missing = parse_mapping({"properties": [
        {"name": "type_of_event", "type": "select", "question": "category",
         "values": {"detention": "Detention"}}, report_id]})
    with pytest.raises(MappingError, match="add values for the choices violence, property"):
        check_against(missing, shape)
    with pytest.raises(MappingError, match="date format"):
        parse_mapping({"collection": {"date_format": "YYYY/YYYY/DD"}})
    with pytest.raises(MappingError, match="no question 'nope'"):
        check_against(parse_mapping({"properties": [
            {"name": "x", "type": "text", "question": "nope"}, report_id]}), shape)
    with pytest.raises(MappingError, match="Group::Value"):
        parse_mapping({"properties": [{"name": "t", "type": "select", "question": "category",
                                       "values": {"other": "A::B::C"}}, report_id]})
    broken = tmp_path / "m.toml"
    broken.write_text("[collection\n")
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(broken)


def test_the_validator_is_not_a_rubber_stamp() -> None:
    """Each rule of the older validator, broken, is still reported."""
    for csv_text, problem in (
        ("description\r\nno title column\r\n", "no title column"),
        (f"title,colour,intake_report_id\r\nA,red,{0:032x}\r\n", "colour: not a property"),
        (f"title,victims,intake_report_id\r\nA,\"Children, Other people\",{0:032x}\r\n",
         "not in the thesaurus"),
        (f"title,witness_safety,intake_report_id\r\nA,Safe|In danger,{0:032x}\r\n",
         "one value only"),
        (f"title,attachments,intake_report_id\r\nA,missing.jpg,{0:032x}\r\n",
         "missing.jpg is not in the zip"),
        (f"title,description,intake_report_id\r\n,no title,{0:032x}\r\n", "no title"),
        ("title,description,intake_report_id\r\nA,b,R-1\r\n", "not a report's public id"),
    ):
        problems, _rows, _files = validate(_zip(csv_text), TEMPLATE)
        assert any(problem in p for p in problems), (csv_text, problems)


def test_hostile_lines_cover_what_markdown_would_run() -> None:
    assert any("<img" in line for line in HOSTILE_LINES)
    assert any("{media}(" in line for line in HOSTILE_LINES)


def test_locations_near_zero_are_plain_decimals() -> None:
    """str(0.00001) is 1e-05: Uwazi's Number() would read it, a spreadsheet too, but the cell
    is written as plain decimals, as a phone reports them."""
    from review.monitoring.uwazi import PropertyMap
    from review.monitoring.uwazi_rows import _place

    cell = _place(PropertyMap("l_geolocation", "geolocation", "where"),
                  {"latitude": 0.00001, "longitude": -0.5})
    assert cell == "0.00001|-0.5"


def test_a_witness_answer_in_a_numeric_property_cannot_stop_the_import() -> None:
    """Uwazi keeps a numeric cell that Number() cannot read as the text itself
    (typeParsers.ts `numeric`), then refuses the entity ("should be number",
    entities/validation/metadataValidators.js), and the import (CSVLoader, stopOnError) stops
    at that row: every later report is lost. A text question mapped to a numeric property
    gets what witnesses type; only a plain number goes in, written as a number."""
    import csv
    from types import SimpleNamespace

    from review.monitoring.cells import csv_text
    from review.monitoring.records import Content
    from review.monitoring.uwazi import PropertyMap
    from review.monitoring.uwazi_rows import _cell

    prop = PropertyMap("people", "numeric", "what")
    rule = Property("numeric")
    for typed, expected in [("-5", "-5"), ("12", "12"), (" 3.5 ", "3.5"), ("about 20", ""),
                            ("=1+1", ""), ("+3", ""), ("1e400", "")]:
        content = Content(item_count=1, readable=True, answers={"what": {"text": typed}})
        # A question's cell reads only the answers (the report and the mapping are for fields).
        report = SimpleNamespace(report=SimpleNamespace(summary=None))
        written = _cell(prop, report, content, None)  # type: ignore[arg-type]
        (cell,) = next(csv.reader([csv_text([[written]], bom=False)]))
        assert cell == expected, typed
        assert cell == "" or _check("people", rule, cell, Template({"people": rule})) == []
