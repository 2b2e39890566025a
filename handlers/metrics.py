"""Prometheus metrics: the `Metrics` port counted in a registry of the container's own, and
`GET /metrics` on the one HTTP server (both modes).

Counters and histograms are fed as things happen; the gauges of what the database holds
(cases by status, each channel's outbox backlog) are read at scrape time with two grouped
queries, at most once every few seconds however often Prometheus asks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from telegram import Update

from bot.domain import Status
from bot.metrics import Snapshot
from bot.outbox import Outcome

log = logging.getLogger(__name__)
SNAPSHOT_SECONDS = 15.0  # how long a database snapshot is reused (Prometheus scrapes every 15 s)
# Handler latency: most updates take milliseconds; a tip with the classifier up to seconds.
HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CLASSIFIER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UPDATE_KINDS = ("message", "callback", "command", "other")


class PrometheusMetrics:
    """The `bot.metrics.Metrics` port in a registry of its own (not the global default, so
    two containers in one process, as in tests, never clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.updates = Counter("dudao_updates_handled", "Telegram updates handled, by kind",
                               ["kind"], registry=r)
        self.handler_seconds = Histogram(
            "dudao_handler_seconds", "Time to handle one Telegram update, by kind", ["kind"],
            buckets=HANDLER_BUCKETS, registry=r)
        self.classifier_seconds = Histogram(
            "dudao_classifier_seconds", "Time the classifier took for one tip",
            buckets=CLASSIFIER_BUCKETS, registry=r)
        self.sends = Counter("dudao_outbox_sends", "Delivery attempts, by channel and outcome",
                             ["channel", "outcome"], registry=r)
        self.throttled = Counter(
            "dudao_outbox_throttled",
            "Attempts answered with 'slow down' (Telegram's 429, a robot's limit), by channel",
            ["channel"], registry=r)
        self.cases = Gauge("dudao_cases", "Cases by status (read from the database)",
                           ["status"], registry=r)
        self.outbox_pending = Gauge("dudao_outbox_pending",
                                    "Unsent outbox rows (due or waiting), by channel",
                                    ["channel"], registry=r)
        self.outbox_due = Gauge("dudao_outbox_due", "Outbox rows due now, by channel",
                                ["channel"], registry=r)
        self.outbox_oldest = Gauge(
            "dudao_outbox_oldest_due_seconds",
            "How long the oldest due outbox row has waited, by channel", ["channel"],
            registry=r)
        for kind in UPDATE_KINDS:  # every series exists from the start, at 0
            self.updates.labels(kind)
        self._snapshot_at = float("-inf")
        self._refreshing = asyncio.Lock()

    # --- the port -------------------------------------------------------------------------
    def update_handled(self, kind: str, seconds: float) -> None:
        self.updates.labels(kind).inc()
        self.handler_seconds.labels(kind).observe(seconds)

    def send_attempted(self, channel: str, outcome: str) -> None:
        self.sends.labels(channel, outcome).inc()
        if outcome == Outcome.RETRY_AFTER.value:
            self.throttled.labels(channel).inc()

    def classified(self, seconds: float) -> None:
        self.classifier_seconds.observe(seconds)

    # --- scraping -------------------------------------------------------------------------
    def show(self, snapshot: Snapshot) -> None:
        """Set the database gauges from `snapshot` (statuses with no case show 0)."""
        counts = {status.value: 0 for status in Status} | snapshot.cases
        for status, count in counts.items():
            self.cases.labels(status).set(count)
        for gauge in (self.outbox_pending, self.outbox_due, self.outbox_oldest):
            gauge.clear()  # a channel with nothing left disappears
        for channel, backlog in snapshot.outbox.items():
            self.outbox_pending.labels(channel).set(backlog.pending)
            self.outbox_due.labels(channel).set(backlog.due)
            self.outbox_oldest.labels(channel).set(snapshot.oldest_due_seconds(channel))

    async def refresh(self, read: Callable[[], Awaitable[Snapshot]]) -> None:
        """Read the database at most once every SNAPSHOT_SECONDS (concurrent scrapes share)."""
        async with self._refreshing:
            if time.monotonic() - self._snapshot_at < SNAPSHOT_SECONDS:
                return
            self.show(await read())
            self._snapshot_at = time.monotonic()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def metrics_route(metrics: PrometheusMetrics,
                  read: Callable[[], Awaitable[Snapshot]]) -> Callable[[web.Application], None]:
    """A `make_web_app` routes hook adding GET /metrics."""

    async def scrape(request: web.Request) -> web.Response:
        try:
            await metrics.refresh(read)
        except Exception:  # the counters still tell something; /health reports the database
            log.exception("metrics: the database snapshot failed")
        response = web.Response(body=metrics.exposition())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    def add(app: web.Application) -> None:
        app.router.add_get("/metrics", scrape)

    return add


def update_kind(update: object) -> str:
    """message, callback or command: what a Telegram update is, for the counters."""
    if not isinstance(update, Update):
        return "other"
    if update.callback_query is not None:
        return "callback"
    message = update.message or update.edited_message
    if message is None:
        return "other"
    if message.text and message.text.startswith("/"):
        return "command"
    return "message"


def measured(metrics: PrometheusMetrics | None, update: object,
             started: float) -> None:
    """Report one handled update that started at perf_counter() `started`."""
    if metrics is not None:
        metrics.update_handled(update_kind(update), time.perf_counter() - started)
