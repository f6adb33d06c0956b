"""The logging policy as plain functions: what a formatted line may and may not contain."""

from __future__ import annotations

import logging

from cli.logging_policy import SafeFilter, SafeFormatter

TOKEN = "123456789:AAsecretpartofthetoken_xyz"


def _record(name: str, level: int, msg: str, args: tuple[object, ...] = (), **extra: object) -> (
    logging.LogRecord
):
    record = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_third_party_arguments_are_replaced_and_token_redacted() -> None:
    """An httpx-style warning keeps its template; the URL argument and the token are gone."""
    line = SafeFormatter([TOKEN]).format(_record(
        "httpx", logging.WARNING, "HTTP Request: %s %s", ("POST", f"https://x/bot{TOKEN}/getMe")
    ))
    assert "HTTP Request: … …" in line and TOKEN not in line and "getMe" not in line


def test_preformatted_third_party_messages_are_withheld() -> None:
    """A library message formatted before logging (it could quote EXIF or text) is withheld."""
    line = SafeFormatter().format(_record("PIL.TiffImagePlugin", logging.WARNING, "Make: CANARY"))
    assert "CANARY" not in line and "withheld" in line


def test_third_party_chatter_is_dropped() -> None:
    """Other libraries' DEBUG and INFO records never reach the log; ours and warnings do."""
    policy = SafeFilter()
    assert not policy.filter(_record("telegram.ext.ExtBot", logging.DEBUG, "x"))
    assert not policy.filter(_record("httpx", logging.INFO, "x"))
    assert policy.filter(_record("httpx", logging.WARNING, "x"))
    assert policy.filter(_record("intake.bot", logging.DEBUG, "x"))


def test_our_fields_are_allowlisted_and_checked() -> None:
    """Only allowlisted fields appear, and a field value that is not an opaque id is redacted."""
    line = SafeFormatter().format(_record(
        "intake.bot", logging.INFO, "report.committed",
        items=3, report_id="a witness wrote this", first_name="Olena",
    ))
    assert "items=3" in line and "report_id=[redacted]" in line and "Olena" not in line


def test_exceptions_keep_type_and_place_not_message() -> None:
    """An exception's message (which may quote input) is replaced by its type and location."""
    try:
        raise ValueError("the witness typed CANARY")
    except ValueError:
        import sys

        record = _record("telegram.ext.Application", logging.ERROR, "Error: %s", ("boom",))
        record.exc_info = sys.exc_info()
    line = SafeFormatter().format(record)
    assert "CANARY" not in line and "exc=ValueError at test_logging_policy.py" in line


SECRET_HALF = TOKEN.split(":", 1)[1]
FORMS = [
    ("whole", f"https://x/bot{TOKEN}/getMe"),
    ("colon escaped", f"https://x/bot{TOKEN.replace(':', '%3A')}/getMe"),
    ("lower-case escape", f"bot{TOKEN.replace(':', '%3a')}"),
    ("every character escaped", "".join(f"%{ord(c):02X}" for c in TOKEN)),
    ("the secret half alone", f"token={SECRET_HALF}"),
    ("cut short", f"https://x/bot{TOKEN[:22]}…"),
    ("its end only", f"…{SECRET_HALF[-9:]}/sendMessage"),
    ("escaped and cut", f"bot{TOKEN.replace(':', '%3A')[:24]}"),
]


def test_every_form_of_the_token_is_redacted() -> None:
    """Whole, percent-encoded (partly or fully), cut short or only its end: no eight
    characters of the token's secret half survive, in ours or in a library's line."""
    for what, text in FORMS:
        for record in (
            _record("intake.cli", logging.ERROR, f"serve.crashed {text}"),
            _record("httpx", logging.WARNING, "HTTP %s", (text,)),
            _record("telegram.ext", logging.WARNING, f"preformatted {text}", ("x",)),
        ):
            line = SafeFormatter([TOKEN]).format(record)
            plain = line.replace("%3A", ":").replace("%3a", ":")
            for start in range(len(SECRET_HALF) - 7):
                assert SECRET_HALF[start:start + 8] not in plain, (what, line)
            assert "%41%41%73" not in line, (what, line)


def test_what_is_not_the_token_is_left_alone() -> None:
    """The bot's public id alone, short look-alikes and percent signs stay as they are."""
    for text in ("bot id 123456789 is public", "AAsecre", "100% done", "%zz%4"):
        line = SafeFormatter([TOKEN]).format(_record("intake.cli", logging.INFO, text))
        assert line.endswith(text)
