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
