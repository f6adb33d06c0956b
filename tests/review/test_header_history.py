"""Headers cannot be destroyed (issue 19, item 6): a partner channel's admin meets another
channel's item as a missing one (404, same body), a wrong header written by the report's own
admin is kept in the history and rolled back, and the stock `age` CLI opens the item with the
recovery key again."""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path

import crypto
from review.channels import add_channel
from storage import ChannelRecord, Role, Storage
from tests.review.api_support import DAY, LiveApi, live_api
from tests.review.sealed_reports import sealed_report
from tests.review.test_keys import Key, age_open, keygen_key


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wrong_header(to: Key) -> bytes:
    """A well-formed age header of another file key: the server cannot tell it is wrong."""
    sealed = b"".join(crypto.seal_bytes(b"other", [crypto.parse_recipient(to.public)]))
    _header, offset = crypto.split_header(sealed)
    return sealed[:offset]


async def _setup(api: LiveApi, tmp_path: Path) -> tuple[dict[str, Key], dict[str, str], str]:
    """Channels a and b; B's report sealed to bob and the recovery key; admins of a and b."""
    storage = api.storage
    for slug in ("a", "b"):
        await add_channel(storage, ChannelRecord(slug=slug, name=f"Partner {slug.upper()}"))
    keys = {name: keygen_key(tmp_path, name) for name in ("bob", "recovery")}
    report_b = await sealed_report(
        storage, api.custody_key,
        [crypto.parse_recipient(keys[n].public) for n in ("bob", "recovery")],
        channel="b", answer="seen in B",
    )
    tokens = {slug: secrets.token_urlsafe(32) for slug in ("a", "b")}
    for slug, token in tokens.items():
        await storage.credentials.add(f"admin-{slug}", Role.ADMIN, token, DAY, slug)
    return keys, tokens, report_b


async def test_a_partner_admin_gets_the_404_of_a_missing_report(
    storage: Storage, tmp_path: Path
) -> None:
    async with live_api(storage) as api:
        keys, tokens, report_b = await _setup(api, tmp_path)
        before = await storage.reports.get(report_b)
        assert before is not None
        never = secrets.token_hex(16)
        body = {
            "header": base64.b64encode(_wrong_header(keys["bob"])).decode(),
            "expected_old_sha256": _sha(before.items[0].header),
            "recipient_key_ids": [keys["bob"].key_id],
        }
        for method, tail, json in (
            ("PUT", "", body),
            ("GET", "/history", None),
            ("POST", "/restore", {"expected_old_sha256": _sha(before.items[0].header)}),
        ):
            status, answer = await api.call(
                method, f"/v1/reports/{report_b}/items/0/header{tail}", tokens["a"], json=json
            )
            ghost_status, ghost = await api.call(
                method, f"/v1/reports/{never}/items/0/header{tail}", tokens["a"], json=json
            )
            assert status == ghost_status == 404, (method, tail, answer)
            assert answer["error"].replace(report_b, never) == ghost["error"]
        # A malformed body is not a way to tell the two apart either.
        status, _ = await api.call("PUT", f"/v1/reports/{report_b}/items/0/header",
                                   tokens["a"], json={**body, "header": ""})
        assert status == 404
        # A reviewer of the report's own channel is no admin.
        reviewer_b = secrets.token_urlsafe(32)
        await storage.credentials.add("rob", Role.REVIEWER, reviewer_b, DAY, "b")
        status, _ = await api.call("PUT", f"/v1/reports/{report_b}/items/0/header",
                                   reviewer_b, json=body)
        assert status == 403
        assert await storage.reports.get(report_b) == before
        assert await storage.reports.header_history(report_b, 0) == []


async def test_a_wrong_header_is_kept_and_rolled_back_and_the_recovery_key_opens_the_item(
    storage: Storage, tmp_path: Path
) -> None:
    async with live_api(storage) as api:
        keys, tokens, report_b = await _setup(api, tmp_path)
        stored = await storage.reports.get(report_b)
        assert stored is not None
        original = stored.items[0]
        status, payload = await api.call(
            "GET", f"/v1/reports/{report_b}/items/0/payload", tokens["b"]
        )
        assert status == 200
        plain = age_open(keys["recovery"], original.header, payload, tmp_path)
        assert plain is not None and b"seen in B" in plain

        # The report's own admin writes a well-formed but wrong header.
        wrong = _wrong_header(keys["bob"])
        status, answer = await api.call(
            "PUT", f"/v1/reports/{report_b}/items/0/header", tokens["b"], json={
                "header": base64.b64encode(wrong).decode(),
                "expected_old_sha256": _sha(original.header),
                "recipient_key_ids": [keys["bob"].key_id],
            })
        assert status == 200, answer
        status, now = await api.call("GET", f"/v1/reports/{report_b}/items/0/header",
                                     tokens["b"])
        assert now == wrong
        assert age_open(keys["recovery"], wrong, payload, tmp_path) is None
        assert age_open(keys["bob"], wrong, payload, tmp_path) is None

        # The old header is kept, with the key ids it was wrapped to.
        status, history = await api.call(
            "GET", f"/v1/reports/{report_b}/items/0/header/history", tokens["b"]
        )
        assert status == 200
        [kept] = history["headers"]
        assert kept["version"] == 1 and kept["sha256"] == _sha(original.header)
        assert base64.b64decode(kept["header"]) == original.header
        assert sorted(kept["recipient_key_ids"]) == sorted(
            keys[n].key_id for n in ("bob", "recovery")
        )

        # A stale undo (the caller's view of the current header is old) changes nothing.
        status, _ = await api.call(
            "POST", f"/v1/reports/{report_b}/items/0/header/restore", tokens["b"],
            json={"expected_old_sha256": _sha(original.header)},
        )
        assert status == 409
        # Undo: the header replaced last comes back; the wrong one is kept in its turn.
        status, answer = await api.call(
            "POST", f"/v1/reports/{report_b}/items/0/header/restore", tokens["b"],
            json={"expected_old_sha256": _sha(wrong)},
        )
        assert status == 200, answer
        assert answer["restored"]["sha256"] == _sha(original.header)
        status, back = await api.call("GET", f"/v1/reports/{report_b}/items/0/header",
                                      tokens["b"])
        assert back == original.header
        opened = age_open(keys["recovery"], back, payload, tmp_path)
        assert opened == plain
        restored = await storage.reports.get(report_b)
        assert restored is not None
        assert sorted(restored.items[0].recipient_key_ids) == sorted(
            keys[n].key_id for n in ("bob", "recovery")
        )
        history_now = await storage.reports.header_history(report_b, 0)
        assert [(h.version, h.sha256) for h in history_now] == [
            (1, _sha(original.header)), (2, _sha(wrong))
        ]
        # Both steps are in the audit trail, naming both headers.
        entries = [e for e in await api.audit.entries() if e.report_id == report_b]
        actions = [(e.action, e.details.get("old_header_sha256"),
                    e.details.get("new_header_sha256")) for e in entries
                   if e.action.startswith("item.")]
        assert actions == [
            ("item.rewrap", _sha(original.header), _sha(wrong)),
            ("item.header_restore", _sha(wrong), _sha(original.header)),
        ]
