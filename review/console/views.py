"""The console's pages and actions: server-rendered HTML, escaped by Jinja2 everywhere.

GET requests only read; every change is a POST (guarded by the CSRF token in security.py) that
answers with a redirect back to the report, so a reload never repeats an action.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined

from review.backend import PRIORITIES, STATUSES, QueueFilter, ReviewBackend
from review.console.media import ATTACHMENT_CSP, content_disposition, present
from review.console.reading import CannotOpen, Reader
from review.console.security import CSRF_FIELD, Session
from review.custody.access import record_access
from review.tools import ask_witness, seal_note
from storage import RecipientKind
from storage.triage import validate_label

Action = Callable[[str], Awaitable[object]]

PAGE_SIZE = 50
_PAGE = re.compile(r"[1-9][0-9]{0,5}")
MAX_NOTE_CHARS = 20_000
# A Telegram message holds 4096 characters; the question is shown to the witness in one.
MAX_QUESTION_CHARS = 3_500
_DONE = {
    "status": "Status saved.",
    "priority": "Priority saved.",
    "assign": "Assignment saved.",
    "label-add": "Label added.",
    "label-remove": "Label removed.",
    "note": "Note sealed to every active reviewer key and saved.",
    "witness": "Question sealed to the witness's key and saved; they read it with their code.",
}


def _human(value: object) -> str:
    return str(value).replace("_", " ").capitalize()


def _size(value: int) -> str:
    if value < 1024:
        return f"{value} bytes"
    if value < 1024 * 1024:
        return f"{value / 1024:.0f} KB"
    return f"{value / 1024 / 1024:.1f} MB"


def templates() -> Environment:
    environment = Environment(
        loader=PackageLoader("review.console", "templates"),
        # Every value is escaped, whatever the template's name: answers and file names are
        # hostile text until shown otherwise.
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["human"] = _human
    environment.filters["size"] = _size
    return environment


@dataclass
class Views:
    reader: Reader
    session: Session
    environment: Environment

    def __post_init__(self) -> None:
        self._stylesheet = (
            importlib.resources.files("review.console") / "static" / "console.css"
        ).read_bytes()

    def routes(self) -> list[web.RouteDef]:
        report = "/reports/{report_id:[0-9a-f]{32}}"
        return [
            web.get("/", self.queue),
            web.get("/static/console.css", self.stylesheet),
            web.get("/favicon.ico", self.no_icon),
            web.get(report, self.report),
            web.get(report + "/items/{seq:[0-9]{1,4}}", self.attachment),
            web.post(report + "/status", self.set_status),
            web.post(report + "/priority", self.set_priority),
            web.post(report + "/assign", self.assign),
            web.post(report + "/labels/add", self.add_label),
            web.post(report + "/labels/remove", self.remove_label),
            web.post(report + "/notes", self.add_note),
            web.post(report + "/witness", self.message_witness),
        ]

    def render(self, name: str, status: int = 200, **context: Any) -> web.Response:
        context.setdefault("flash", None)
        context.setdefault("error", None)
        html = self.environment.get_template(name).render(
            actor=self.reader.backend.actor, csrf=self.session.csrf_token,
            csrf_field=CSRF_FIELD, **context,
        )
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    # --- reading ---------------------------------------------------------------------------

    async def stylesheet(self, request: web.Request) -> web.Response:
        return web.Response(body=self._stylesheet, content_type="text/css", charset="utf-8")

    async def no_icon(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def queue(self, request: web.Request) -> web.Response:
        query = request.query
        error = None
        label = query.get("label", "").strip() or None
        if label is not None:
            try:
                validate_label(label)
            except ValueError as problem:
                error, label = str(problem), None
        day = None
        if query.get("day"):
            try:
                day = dt.date.fromisoformat(query["day"])
            except ValueError:
                error = "The received day is a date like 2024-05-31."
        filters = QueueFilter(
            status=query.get("status") if query.get("status") in STATUSES else None,
            priority=query.get("priority") if query.get("priority") in PRIORITIES else None,
            assignee=query.get("assignee") or None,
            label=label,
            received_day=day,
        )
        page_text = query.get("page", "1")
        # ASCII digits only: str.isdigit() accepts "²", which int() then refuses; and a page
        # past a million would only overflow the database's OFFSET.
        if not _PAGE.fullmatch(page_text):
            return self.render(
                "message.html", status=400, title="No such page of the queue",
                message="Pages of the queue are numbered 1, 2, 3 and so on; this address asks "
                "for one that cannot exist. The queue starts again from its first page.",
            )
        page = int(page_text)
        summaries = await self.reader.backend.list_reports(
            filters, page=page, page_size=PAGE_SIZE
        )
        kept = {k: v for k, v in query.items() if k in ("status", "priority", "assignee",
                                                       "label", "day") and v}

        def page_link(number: int) -> str:
            return "/?" + urllib.parse.urlencode({**kept, "page": str(number)})

        return self.render(
            "queue.html",
            error=error,
            filters=filters,
            day=day.isoformat() if day else "",
            statuses=STATUSES,
            priorities=PRIORITIES,
            reviewers=await self._reviewer_names(),
            summaries=summaries,
            previews=await self.reader.previews(summaries),
            page=page,
            previous_page=page_link(page - 1) if page > 1 else None,
            next_page=page_link(page + 1) if len(summaries) == PAGE_SIZE else None,
        )

    async def report(self, request: web.Request, *, status: int = 200, error: str | None = None,
                     drafts: dict[str, str] | None = None) -> web.Response:
        report_id = request.match_info["report_id"]
        try:
            view = await self.reader.open_report(report_id)
        except CannotOpen:
            return self.render("message.html", status=200, title="Cannot open this report",
                               message="This report is not sealed to your key, or it is "
                               "damaged. Ask a colleague whose key opens it to re-wrap it.")
        done = request.query.get("done", "")
        return self.render(
            "report.html",
            status=status,
            report=view,
            notes=await self.reader.notes(report_id),
            statuses=STATUSES,
            priorities=PRIORITIES,
            reviewers=await self._reviewer_names(view.summary.assignee),
            flash=_DONE.get(done),
            error=error,
            drafts=drafts or {},
            max_note=MAX_NOTE_CHARS,
            max_question=MAX_QUESTION_CHARS,
        )

    async def attachment(self, request: web.Request) -> web.Response:
        report_id = request.match_info["report_id"]
        seq = int(request.match_info["seq"])
        data, facts = await self.reader.attachment(report_id, seq)
        presentation = present(facts)
        inline = presentation.display != "file" and "download" not in request.query
        if not inline:
            # Saved to the reviewer's disk as a decrypted file: a download in the custody chain.
            await record_access(self.reader.backend, report_id, "downloaded", items=[seq],
                                via="console")
        return web.Response(body=data, headers={
            "Content-Type": presentation.content_type,
            "Content-Disposition": content_disposition(
                inline=inline, report_id=report_id, seq=seq, presentation=presentation,
                file_name=facts.get("file_name"),
            ),
            "Content-Security-Policy": ATTACHMENT_CSP,
        })

    async def _reviewer_names(self, current: str | None = None) -> list[str]:
        names = sorted(
            r.name for r in await self.reader.backend.recipients()
            if r.active and r.kind is RecipientKind.REVIEWER
        )
        if current and current not in names:
            names.append(current)
        return names

    # --- changing --------------------------------------------------------------------------

    async def set_status(self, request: web.Request) -> web.Response:
        value = await _field(request, "status")
        return await self._act(request, "status", lambda rid: self.backend.set_status(rid, value))

    async def set_priority(self, request: web.Request) -> web.Response:
        value = await _field(request, "priority")
        return await self._act(
            request, "priority", lambda rid: self.backend.set_priority(rid, value)
        )

    async def assign(self, request: web.Request) -> web.Response:
        value = (await _field(request, "assignee")).strip() or None
        return await self._act(request, "assign", lambda rid: self.backend.assign(rid, value))

    async def add_label(self, request: web.Request) -> web.Response:
        value = (await _field(request, "label")).strip().lower()
        return await self._act(
            request, "label-add", lambda rid: self.backend.add_label(rid, value)
        )

    async def remove_label(self, request: web.Request) -> web.Response:
        value = await _field(request, "label")
        return await self._act(
            request, "label-remove", lambda rid: self.backend.remove_label(rid, value)
        )

    async def add_note(self, request: web.Request) -> web.Response:
        text = (await _field(request, "text")).strip()

        async def seal_and_add(report_id: str) -> None:
            _limit(text, MAX_NOTE_CHARS, "note")
            # Sealed here, to every active recipient (the recovery key too), then uploaded.
            await seal_note(self.backend, report_id, text)

        return await self._act(request, "note", seal_and_add, drafts={"note": text})

    async def message_witness(self, request: web.Request) -> web.Response:
        text = (await _field(request, "text")).strip()

        async def seal_and_leave(report_id: str) -> None:
            _limit(text, MAX_QUESTION_CHARS, "question")
            # Sealed here to the key only the witness's receipt code derives.
            await ask_witness(self.backend, report_id, text)

        return await self._act(request, "witness", seal_and_leave, drafts={"witness": text})

    @property
    def backend(self) -> ReviewBackend:
        return self.reader.backend

    async def _act(self, request: web.Request, done: str, action: Action,
                   drafts: dict[str, str] | None = None) -> web.Response:
        report_id = request.match_info["report_id"]
        try:
            await action(report_id)
        except ValueError as problem:
            # InvalidRequestError is a ValueError too: the backend's message says what to fix.
            return await self.report(request, status=400, error=str(problem), drafts=drafts)
        return web.Response(status=303, headers={
            "Location": f"/reports/{report_id}?done={done}#{done.split('-')[0]}"
        })


async def _field(request: web.Request, name: str) -> str:
    value = (await request.post()).get(name)
    return value if isinstance(value, str) else ""


def _limit(text: str, limit: int, what: str) -> None:
    if not text:
        raise ValueError(f"The {what} is empty.")
    if len(text) > limit:
        raise ValueError(f"The {what} is longer than {limit} characters ({len(text)}).")
