"""Channels, layer 1: the migration moves a store into `default`, and a report is sealed to its
own channel's reviewers and recovery key only (the stock `age` CLI decides who can open it)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

from sqlalchemy import text

import crypto
from bot.core.conversation import Conversation
from bot.core.draft import ChoiceAnswer, DateAnswer, Draft, PlaceAnswer, TextAnswer
from bot.core.questionnaire import DEFAULT_QUESTIONNAIRE, load_questionnaire
from bot.i18n import translations
from bot.submission import NoRecipientsError, ReportSubmitter, fetch_from_memory
from review.audit import AuditTrail
from review.channels import ChannelError, add_channel
from review.local import LocalBackend
from review.recipients import RecipientError, add_recovery, add_reviewer
from review.tools import ask_witness, seal_note
from storage import ChannelRecord, RecipientKind, Storage
from storage.server_keys import ServerKeys, load_or_create_server_keys
from tests.review.test_keys import Key, age_open, keygen_key

DAY = dt.date(2026, 3, 2)


async def test_migration_0008_moves_a_store_into_the_default_channel(
    empty_database_url: str, tmp_path: Path
) -> None:
    """A store at 0005 with a report, a reviewer, a recovery key and a credential upgrades: all
    belong to `default`, which falls back to the deployment's settings; credentials stay global."""
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    from storage.database import _alembic_config

    (tmp_path / "data").mkdir(exist_ok=True)
    engine = create_async_engine(empty_database_url)
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0005"))
        await connection.execute(text(
            "INSERT INTO reports (id, received_day, status, priority, receipt_hash, "
            "submission_key, manifest, manifest_signature) VALUES "
            "(:id, :day, 'new', 'normal', :h, :s, :m, :sig)"
        ), {"id": "ab" * 16, "day": DAY, "h": b"h" * 32, "s": b"s" * 32, "m": b"{}",
            "sig": b"x" * 64})
        for name, kind in (("alice", "reviewer"), ("vault", "recovery")):
            await connection.execute(text(
                "INSERT INTO recipients (name, recipient, key_id, kind, added_on) VALUES "
                "(:n, :r, :k, :kind, :day)"
            ), {"n": name, "r": f"age1{name}", "k": name[0] * 16, "kind": kind, "day": DAY})
        await connection.execute(text(
            "INSERT INTO credentials (name, role, token_hash, created_on) VALUES "
            "('alice', 'reviewer', :h, :day)"
        ), {"h": b"t" * 32, "day": DAY})
    await engine.dispose()
    storage = await Storage.open(empty_database_url, tmp_path / "blobs")
    try:
        assert await storage.reports.channel_of("ab" * 16) == "default"
        assert await storage.reports.ids_in_channel("default") == ["ab" * 16]
        assert {(r.name, r.kind, r.channel) for r in await storage.recipients.active("default")} \
            == {("alice", RecipientKind.REVIEWER, "default"),
                ("vault", RecipientKind.RECOVERY, "default")}
        [default] = await storage.channels.all()
        assert (default.slug, default.questionnaire, default.languages,
                default.retention_days, default.reviewers_chat_id, default.public) == (
            "default", None, None, None, None, False)
        async with storage.engine.connect() as connection:
            found = (await connection.execute(text("SELECT channel FROM credentials"))).all()
        assert [row[0] for row in found] == [None]
    finally:
        await storage.close()


async def _office(storage: Storage, scratch: Path) -> dict[str, Key]:
    """Channel `partner` (reviewer pat, recovery pat-vault) beside `default` (dana, vault)."""
    await add_channel(storage, ChannelRecord(slug="partner", name="Partner NGO"))
    keys = {name: keygen_key(scratch, name) for name in ("dana", "vault", "pat", "pat-vault")}
    await add_reviewer(storage, "dana", keys["dana"].public)
    await add_recovery(storage, keys["vault"].public, name="vault")
    await add_reviewer(storage, "pat", keys["pat"].public, channel="partner")
    await add_recovery(storage, keys["pat-vault"].public, name="pat-vault", channel="partner")
    return keys


async def _submit(storage: Storage, keys: ServerKeys, channel: str) -> str:
    conversation = Conversation(load_questionnaire(DEFAULT_QUESTIONNAIRE), translations)
    draft = Draft(draft_id=secrets.token_hex(8), language="en", channel=channel, answers={
        "category": ChoiceAnswer("violence"),
        "what": TextAnswer(f"seen by {channel}"),
        "when": DateAnswer(dt.date(2026, 5, 31)),
        "where": PlaceAnswer("Near the market"),
    })
    receipt = await ReportSubmitter(storage, keys, conversation).submit(
        draft, submission_id=secrets.token_hex(8), fetch=fetch_from_memory({})
    )
    return receipt.report_id


async def test_a_report_is_sealed_to_its_channel_only(storage: Storage, tmp_path: Path) -> None:
    """A partner report opens with the partner's reviewer and recovery key and with no key of
    the default channel; its sealed answers name the channel too."""
    keys = await _office(storage, tmp_path)
    server = load_or_create_server_keys(tmp_path / "data")
    partner_id = await _submit(storage, server, "partner")
    default_id = await _submit(storage, server, "default")
    assert await storage.reports.channel_of(partner_id) == "partner"
    assert await storage.reports.channel_of(default_id) == "default"
    for report_id, readers, others in (
        (partner_id, ("pat", "pat-vault"), ("dana", "vault")),
        (default_id, ("dana", "vault"), ("pat", "pat-vault")),
    ):
        stored = await storage.reports.get(report_id)
        assert stored is not None
        [answers] = stored.items
        assert set(answers.recipient_key_ids) == {keys[n].key_id for n in readers}
        with storage.blobs.open(answers.item_id) as blob:
            payload = blob.read()
        for name in readers:
            opened = age_open(keys[name], answers.header, payload, tmp_path)
            assert opened is not None
            assert json.loads(opened)["channel"] == await storage.reports.channel_of(report_id)
        for name in others:
            assert age_open(keys[name], answers.header, payload, tmp_path) is None


async def test_a_channel_without_reviewers_refuses_to_seal(
    storage: Storage, tmp_path: Path
) -> None:
    """A report for a channel with no recipients is not sealed to anyone else's keys."""
    await _office(storage, tmp_path)
    await add_channel(storage, ChannelRecord(slug="empty", name="No reviewers yet"))
    server = load_or_create_server_keys(tmp_path / "data")
    try:
        await _submit(storage, server, "empty")
    except NoRecipientsError as error:
        assert "--channel empty" in str(error)
    else:
        raise AssertionError("sealed a report of a channel without recipients")
    assert await storage.reports.count() == 0


async def test_channel_and_recipient_mistakes_are_named(storage: Storage) -> None:
    """A bad slug, a second channel of one slug and a reviewer of no channel are refused."""
    for slug in ("Has Space", "UPPER", "-dash", "x" * 33):
        try:
            await add_channel(storage, ChannelRecord(slug=slug, name="x"))
        except ChannelError as error:
            assert "slug" in str(error)
        else:
            raise AssertionError(slug)
    await add_channel(storage, ChannelRecord(slug="ngo", name="NGO"))
    try:
        await add_channel(storage, ChannelRecord(slug="ngo", name="again"))
    except ChannelError as error:
        assert "exists" in str(error)
    else:
        raise AssertionError("a second channel ngo")
    recipient = str(crypto.generate_identity().recipient)
    try:
        await add_reviewer(storage, "lee", recipient, channel="nowhere")
    except RecipientError as error:
        assert "intake channel list" in str(error)
    else:
        raise AssertionError("a reviewer of no channel")


async def test_notes_and_questions_are_sealed_to_the_reports_channel(
    storage: Storage, tmp_path: Path
) -> None:
    """A reviewer's note and a question for the witness on a partner report open with the
    partner's keys and with no key of the default channel."""
    keys = await _office(storage, tmp_path)
    server = load_or_create_server_keys(tmp_path / "data")
    partner_id = await _submit(storage, server, "partner")
    backend = LocalBackend(storage, AuditTrail(storage.audit, server.custody_key), "pat")
    await seal_note(backend, partner_id, "call the lawyer")
    await ask_witness(backend, partner_id, "which street?")
    [note] = await backend.notes(partner_id)
    [question] = await backend.witness_messages(partner_id)
    for sealed in (note.sealed, question.sealed):
        header, offset = crypto.split_header(sealed)
        for name in ("pat", "pat-vault"):
            assert age_open(keys[name], header, sealed[offset:], tmp_path) is not None
        for name in ("dana", "vault"):
            assert age_open(keys[name], header, sealed[offset:], tmp_path) is None
