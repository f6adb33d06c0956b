"""The console's monitoring pages: overview with charts, exports, and corroboration.

All of it works on reports decrypted in this process (through the console's Reader), kept in
memory only and forgotten when the console stops. The first visit starts decrypting the queue
in the background; until it is done the page shows a progress bar that refreshes itself with
a `<meta http-equiv="refresh">`, since the console runs no script. Charts are SVG (or PNG)
drawn here by matplotlib and shown with `<img>`, which never runs anything inside an SVG; they
are served with the same sandboxing policy as attachments.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib.resources
import logging
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from review.backend import STATUSES
from review.console.media import ATTACHMENT_CSP
from review.console.reading import CannotOpen
from review.custody.access import record_bulk_access
from review.monitoring.cells import Cell, csv_text
from review.monitoring.collect import collect, question_reader, record_questions_opened
from review.monitoring.records import Content, Record, merged_shape
from review.monitoring.stats import (
    Filters,
    Overview,
    Questions,
    category_of,
    choice_labels,
    figure_csv_rows,
    overview,
    overview_csv_rows,
    reviewer_names,
)
from review.monitoring.tables import PLAINTEXT_WARNING, export_text
from storage import ItemRole, StoredItem, StoredReport
from storage.triage import validate_label

if TYPE_CHECKING:
    from review.console.views import Views
    from review.monitoring.similar import Match

log = logging.getLogger("intake.console")

_CHOICE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FIGURE = "{name:by-[a-z-]{2,40}}"


@dataclass
class Monitor:
    """The queue decrypted into Records, built once in the background, rebuilt on request."""

    views: Views
    records: list[Record] | None = None
    images: bool = False  # whether the records carry perceptual hashes
    done: int = 0
    total: int = 0
    failed: str | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def building(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, *, images: bool) -> None:
        if self.building():
            return
        self.failed, self.done, self.total = None, 0, 0
        cached = {r.report_id: r.content for r in self.records or ()}
        self._task = asyncio.create_task(self._build(images, cached))

    async def _build(self, images: bool, cached: dict[str, Content]) -> None:
        reader = self.views.reader

        opened: list[tuple[str, int]] = []

        async def open_item(report: StoredReport, item: StoredItem) -> bytes | None:
            try:
                data = (await reader.item(report, item.seq, record=False)).data
            except CannotOpen:
                return None
            opened.append((report.summary.report_id, item.seq))
            return data

        def progress(done: int, total: int) -> None:
            self.done, self.total = done, total

        asked: list[tuple[str, str]] = []
        try:
            try:
                records = await collect(
                    reader.backend, open_item, images=images, cached=cached, progress=progress,
                    questions=question_reader(reader.backend, reader.identities, asked),
                )
            finally:
                # Every item decrypted for these pages, in a few entries (chain of custody),
                # also when the build stopped half-way; nothing is shown unless recorded.
                await record_bulk_access(reader.backend, opened, via="console")
                await record_questions_opened(reader.backend, asked, via="console")
            self.records, self.images = records, images
        except Exception as error:
            log.warning("console.monitoring_failed", extra={"error": type(error).__name__})
            self.failed = str(error)

    def ready(self, *, images: bool = False) -> list[Record] | None:
        """The records if built (with image hashes when asked); otherwise start building."""
        if self.records is not None and (self.images or not images) and not self.building():
            return self.records
        if not self.building() and self.failed is None:
            self.start(images=images or self.images)
        return None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.records = None


class MonitoringPages:
    def __init__(self, views: Views) -> None:
        self.views = views
        self.monitor = Monitor(views)
        self._pairs_for: list[Record] | None = None
        self._pairs: dict[str, list[Match]] = {}
        self._stylesheet = (
            importlib.resources.files("review.console") / "static" / "monitoring.css"
        ).read_bytes()

    def install(self, app: web.Application) -> None:
        report = "/reports/{report_id:[0-9a-f]{32}}"
        app.add_routes([
            web.get("/static/monitoring.css", self.stylesheet),
            web.get("/overview", self.overview),
            web.post("/overview/refresh", self.refresh),
            web.get("/overview/numbers.csv", self.numbers),
            web.get(f"/overview/{_FIGURE}.csv", self.figure_numbers),
            web.get("/overview/charts/" + _FIGURE + ".{fmt:svg|png}", self.chart),
            web.get("/export", self.export_page),
            web.get("/export/reports.{fmt:csv|jsonl}", self.export_file),
            web.get("/corroboration", self.corroboration),
            web.get(report + "/similar", self.similar),
            web.get(report + "/items/{seq:[0-9]{1,6}}/thumbnail.png", self.thumbnail),
        ])

        async def forget(_app: web.Application) -> None:
            await self.monitor.stop()

        app.on_cleanup.append(forget)
        # The report page asks for its similar images when they are already known; it never
        # starts decrypting the whole queue itself.
        self.views.environment.globals["similar_images"] = self.known_similar

    async def stylesheet(self, request: web.Request) -> web.Response:
        return web.Response(body=self._stylesheet, content_type="text/css", charset="utf-8")

    # --- waiting ---------------------------------------------------------------------------

    def _wait(self, title: str) -> web.Response:
        monitor = self.monitor
        if monitor.failed is not None and not monitor.building():
            return self.views.render("message.html", status=502, title="Could not decrypt",
                                     message=f"Decrypting the queue failed: {monitor.failed}")
        return self.views.render(
            "monitoring_wait.html", title=title, done=monitor.done, total=monitor.total,
        )

    async def refresh(self, request: web.Request) -> web.Response:
        """Decrypt again what changed (new reports, additions); then back to the overview."""
        self.monitor.start(images=self.monitor.images)
        return web.Response(status=303, headers={"Location": "/overview"})

    # --- the overview ----------------------------------------------------------------------

    def _filters(self, request: web.Request) -> tuple[Filters, str | None]:
        query = request.query
        error = None
        dates: list[dt.date | None] = []
        for name in ("since", "until"):
            try:
                dates.append(dt.date.fromisoformat(query[name]) if query.get(name) else None)
            except ValueError:
                dates.append(None)
                error = "Dates are written like 2024-05-31."
        label = query.get("label", "").strip() or None
        if label is not None:
            try:
                validate_label(label)
            except ValueError as problem:
                error, label = str(problem), None
        status = query.get("status") if query.get("status") in STATUSES else None
        category = query.get("category") or None
        if category is not None and not _CHOICE_ID.fullmatch(category):
            category = None
        return Filters(dates[0], dates[1], status, label, category), error

    def _names(self) -> dict[str, dict[str, str]]:
        """Choice names in the reviewer's language (the console's INTAKE_REVIEWER_LANGUAGE)."""
        return reviewer_names(self.views.reader.labels)

    def _overview(self, request: web.Request, records: list[Record]) -> Overview:
        filters, _error = self._filters(request)
        return overview(records, filters, names=self._names())

    async def overview(self, request: web.Request) -> web.Response:
        records = self.monitor.ready()
        if records is None:
            return self._wait("Overview")
        filters, error = self._filters(request)
        names = self._names()
        result = overview(records, filters, names=names)
        query = urllib.parse.urlencode(filters.as_query())
        categories = choice_labels([r for r in records if r.content.readable], Questions())
        categories["category"].update(names["category"])
        present = sorted({c for r in records if (c := category_of(r, Questions()))})
        return self.views.render(
            "overview.html", error=error, result=result, filters=filters, query=query,
            statuses=STATUSES, categories=[(c, categories["category"].get(c, c)) for c in present],
        )

    async def chart(self, request: web.Request) -> web.Response:
        records = self.monitor.records
        if records is None:
            raise web.HTTPNotFound()
        from review.monitoring.charts import FORMATS, render_chart

        fmt = request.match_info["fmt"]
        figure = self._overview(request, records).figure(request.match_info["name"])
        data = await asyncio.to_thread(render_chart, figure, fmt)
        disposition = "attachment" if "download" in request.query else "inline"
        return web.Response(body=data, headers={
            "Content-Type": FORMATS[fmt],
            "Content-Disposition": f'{disposition}; filename="{figure.name}.{fmt}"',
            "Content-Security-Policy": ATTACHMENT_CSP,
        })

    async def figure_numbers(self, request: web.Request) -> web.Response:
        records = self._records_or_404()
        figure = self._overview(request, records).figure(request.match_info["name"])
        return _csv_response(figure_csv_rows(figure), f"{figure.name}.csv")

    async def numbers(self, request: web.Request) -> web.Response:
        records = self._records_or_404()
        return _csv_response(overview_csv_rows(self._overview(request, records)),
                             "overview.csv")

    def _records_or_404(self) -> list[Record]:
        if self.monitor.records is None:
            raise web.HTTPNotFound()
        return self.monitor.records

    # --- exports ---------------------------------------------------------------------------

    async def export_page(self, request: web.Request) -> web.Response:
        records = self.monitor.ready()
        if records is None:
            return self._wait("Export")
        return self.views.render("export.html", count=len(records), warning=PLAINTEXT_WARNING)

    async def export_file(self, request: web.Request) -> web.Response:
        records = self._records_or_404()
        fmt = request.match_info["fmt"]
        text = export_text(records, merged_shape([], records), fmt)
        content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
        return web.Response(body=text.encode("utf-8"), headers={
            "Content-Type": f"{content_type}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="reports.{fmt}"',
            "Content-Security-Policy": ATTACHMENT_CSP,
        })

    # --- corroboration ---------------------------------------------------------------------

    async def corroboration(self, request: web.Request) -> web.Response:
        records = self.monitor.ready(images=True)
        if records is None:
            return self._wait("Corroboration")
        # Imported here: imagehash brings numpy and scipy, which the other pages do not need.
        from review.monitoring.similar import event_groups, image_groups

        return self.views.render(
            "corroboration.html", image_groups=image_groups(records),
            event_groups=event_groups(records),
        )

    def known_similar(self, report_id: str) -> list[Match] | None:
        """This report's similar images if the queue's images are hashed; None if not yet."""
        monitor = self.monitor
        if monitor.records is None or not monitor.images:
            return None
        from review.monitoring.similar import similar_to

        if self._pairs_for is not monitor.records:
            self._pairs_for, self._pairs = monitor.records, {}
        if report_id not in self._pairs:
            self._pairs[report_id] = similar_to(report_id, monitor.records)
        return self._pairs[report_id]

    async def similar(self, request: web.Request) -> web.Response:
        report_id = request.match_info["report_id"]
        # A report this backend cannot see (another channel's, or none) is a 404 at once, not a
        # "please wait" page that would answer differently once the records are ready.
        await self.views.reader.backend.get_report(report_id)
        records = self.monitor.ready(images=True)
        if records is None:
            return self._wait("Similar images")
        if not any(r.report_id == report_id for r in records):
            raise LookupError(report_id)
        from review.monitoring.similar import similar_to

        return self.views.render(
            "similar.html", report_id=report_id, matches=similar_to(report_id, records),
        )


    async def thumbnail(self, request: web.Request) -> web.Response:
        """A small PNG of an image attachment, whatever type Telegram said it had.

        Photos sent "as a file" are served by the report page as downloads; here the bytes
        decide (`similar.thumbnail` decodes them within fixed bounds and re-encodes a small
        PNG without their metadata), so the corroboration pages can show every image.
        """
        from review.monitoring.similar import thumbnail

        reader = self.views.reader
        report = await reader.backend.get_report(request.match_info["report_id"])
        seq = int(request.match_info["seq"])
        if not any(i.seq == seq and i.role is ItemRole.ATTACHMENT for i in report.items):
            raise LookupError(seq)
        try:
            opened = await reader.item(report, seq)
        except CannotOpen:
            raise web.HTTPNotFound() from None
        data = await asyncio.to_thread(thumbnail, opened.data)
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, headers={
            "Content-Type": "image/png", "Content-Security-Policy": ATTACHMENT_CSP,
            "Content-Disposition": "inline",
        })


def _csv_response(rows: list[list[Cell]], name: str) -> web.Response:
    return web.Response(body=csv_text(rows).encode("utf-8"), headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Security-Policy": ATTACHMENT_CSP,
    })
