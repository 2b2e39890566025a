"""What a /metrics scrape costs at scale: the database snapshot (cases by status, the outbox
backlog by channel) and the exposition, on SQLite and PostgreSQL.

Usage:
    python -m bench.bench_metrics [--cases 200000] [--outbox 10000] [--backend sqlite|postgres|both]

Fills a freshly migrated database like bench/bench_storage.py (the same provincial
directory and N cases with their events), adds `--outbox` unsent outbox rows spread over
Telegram and the two robot channels, then times `bot.metrics.snapshot` (the two grouped
queries, through the real async repositories) and `PrometheusMetrics.show` + `exposition`,
20 times after 3 warm-ups. Prints one Markdown table; nothing is written.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bench.bench_storage import (  # noqa: E402
    fill_database,
    fresh_pg_database,
    start_postgres,
)
from bot.metrics import snapshot  # noqa: E402
from handlers.metrics import PrometheusMetrics  # noqa: E402
from storage.db import create_async_db_engine  # noqa: E402
from storage.models import OutboxRow  # noqa: E402
from storage.uow import UnitOfWorkFactory  # noqa: E402

TARGET_MS = 200.0  # the storage benchmark's target for a key query
CHANNELS = ("telegram",) * 8 + ("dingtalk", "wecom")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def add_outbox(engine: object, rows: int, now: datetime) -> None:
    """`rows` unsent rows, half due (queued over the last hour), half waiting."""
    values = [{"chat_id": 10_000 + i, "kind": "assigned", "channel": CHANNELS[i % 10],
               "text": "", "markup": None, "notice": {"key": "notify.plain",
                                                      "params": {"text": "x"}},
               "dedup_key": None,
               "not_before": now + (timedelta(hours=1) if i % 2 else -timedelta(minutes=1)),
               "created_at": now - timedelta(seconds=i % 3600), "sent_at": None,
               "attempts": 0, "last_error": ""} for i in range(rows)]
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(insert(OutboxRow), values)


async def time_scrape(url: str, now: datetime, runs: int, warmups: int
                      ) -> tuple[list[float], list[float], dict[str, int]]:
    engine = create_async_db_engine(url)
    try:
        uow, clock, metrics = UnitOfWorkFactory(engine), Clock(now), PrometheusMetrics()
        db_ms, render_ms = [], []
        taken = None
        for i in range(warmups + runs):
            t0 = time.perf_counter()
            taken = await snapshot(uow, clock)
            t1 = time.perf_counter()
            metrics.show(taken)
            metrics.exposition()
            t2 = time.perf_counter()
            if i >= warmups:
                db_ms.append((t1 - t0) * 1000)
                render_ms.append((t2 - t1) * 1000)
        assert taken is not None
        return db_ms, render_ms, {**taken.cases, **{
            f"outbox {c}": b.pending for c, b in taken.outbox.items()}}
    finally:
        await engine.dispose()


def run(backend: str, url: str, args: argparse.Namespace) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    fill = argparse.Namespace(pg_load="copy", batch=10_000, seed=20260)
    engine, _, _ = fill_database(backend, url, args.cases, fill, now)
    try:
        add_outbox(engine, args.outbox, now)
    finally:
        engine.dispose()
    db_ms, render_ms, counts = asyncio.run(time_scrape(url, now, args.runs, args.warmups))
    cases = sum(v for k, v in counts.items() if not k.startswith("outbox"))
    return (f"| {backend} | {cases:,} | {args.outbox:,} | {statistics.median(db_ms):.1f} / "
            f"{max(db_ms):.1f} | {statistics.median(render_ms):.2f} / {max(render_ms):.2f} | "
            f"{'yes' if max(db_ms) < TARGET_MS else 'no'} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--cases", type=int, default=200_000)
    ap.add_argument("--outbox", type=int, default=10_000)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--pg-url", help="admin URL of an existing PostgreSQL server to use")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmups", type=int, default=3)
    args = ap.parse_args(argv)
    load = os.getloadavg()
    lines = ["| backend | cases | unsent outbox rows | snapshot p50 / max ms | show + "
             "exposition p50 / max ms | max < 200 ms? |", "|---|---:|---:|---|---|---|"]
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        if backend == "sqlite":
            workdir = Path(tempfile.mkdtemp(prefix="dudao-bench-metrics-"))
            try:
                lines.append(run(backend, f"sqlite:///{workdir / 'metrics.db'}", args))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        else:
            pg = start_postgres(args.pg_url)
            try:
                lines.append(run(backend, fresh_pg_database(pg.admin_url, "dudao_metrics"),
                                 args))
            finally:
                pg.stop()
    lines.append(f"\nload average at start {load[0]:.1f}, at end {os.getloadavg()[0]:.1f}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
