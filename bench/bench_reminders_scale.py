"""The reminder run at provincial scale: every stage clock, on SQLite and PostgreSQL.

Usage:
    python bench/bench_reminders_scale.py [--cases 10000 100000 1000000]
                                          [--backend sqlite|postgres|both]

Each size gets a freshly migrated database filled by bench_storage's generator (the same
directory: 3,000 supervisors, 20 staff, 10,000 schools; cases spread over two years with every
open status: unaccepted, accepted, awaiting the parent, proposed, rectifying, reported) plus,
on a tenth of the rectifying cases, a pending extension request and, on a twentieth, a rung of
the escalation ladder awaiting staff. As after the 0010 migration, every open case is due for
a first look (`case_looks.remind_on`). Then `ReminderService.run()` (the scheduler's job, real
repositories and outbox) is timed in a child process, which reports its peak RSS:

1. catch-up: the first run after the upgrade looks at every open case once (one-time);
2. steady: the same minute again, what every later minute of the day costs;
3. next day: the first run of the next working day (the 督办 now due and the daily overdue
   reminder, one message per person, read from what the clock pass recorded in case_looks);
4. next day, steady.

Targets: every run but the one-time catch-up ≤ 2 s (the next day's first run is the largest)
and the process ≤ 300 MB. Rows are generated with bulk inserts
(executemany on SQLite, COPY on PostgreSQL) with progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make storage/, bot/ and tests/ importable
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.bench_storage import (  # noqa: E402
    Filler,
    core_insert,
    pg_copy,
    pg_stores,
    prepare_planner,
    sqlite_stores,
    start_postgres,
)
from storage.db import create_sync_db_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
# Monday 2026-11-23 09:00 in Shanghai, then Tuesday: two working days.
DAY1 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
TARGET_S, TARGET_MB = 2.0, 300.0

EXTRA_EVENTS = """
INSERT INTO case_events (case_id, seq, action, actor_role, actor, at, from_status, to_status,
                         comment, data)
SELECT c.id, (SELECT max(e.seq) FROM case_events e WHERE e.case_id = c.id) + 1, '{action}',
       '{role}', '{actor}', c.updated_at, 'rectifying', 'rectifying', '', '{data}'
FROM cases c WHERE c.status = 'rectifying' AND c.id - (c.id / {every}) * {every} = {rest}
"""


def fill(url: str, cases: int, backend: str, batch: int, seed: int) -> dict[str, int]:
    """Migrate, fill, add the extension and ladder clocks, mark open cases for a first look."""
    print(f"[{backend} {cases:,}] migrating", file=sys.stderr, flush=True)
    upgrade(url)
    engine = create_sync_db_engine(url)
    try:
        loader = pg_copy if backend == "postgres" else core_insert
        filler = Filler(engine, loader, cases, batch, DAY1 - (DAY2 - DAY1), seed,
                        f"{backend} {cases:,}")
        filler.directory(seed)
        filler.fill_to(cases)
        filler.finish()
        with engine.begin() as conn:
            conn.exec_driver_sql(EXTRA_EVENTS.format(
                action="extension_requested", role="supervisor", actor="R0101",
                data=json.dumps({"new": "2027-01-31"}), every=10, rest=0))
            conn.exec_driver_sql(EXTRA_EVENTS.format(
                action="interview_due", role="system", actor="system", data="{}", every=20,
                rest=5))
            # the filler writes case rows only; every case gets its scheduler row, the open
            # ones a look that has come (as after the upgrade to 0010)
            conn.execute(text("INSERT INTO case_looks (case_id, remind_on) SELECT id, CASE"
                              " WHEN status <> 'closed' THEN :day END FROM cases"),
                         {"day": date(2026, 11, 22)})
            counts = {"cases": cases, "events": filler.factory.tally.events,
                      "open": int(conn.execute(text(
                          "SELECT count(*) FROM cases WHERE status <> 'closed'")).scalar_one())}
        prepare_planner(engine, analyze=True)
        return counts
    finally:
        engine.dispose()


def peak_rss_mb() -> float:
    """This process's own peak resident set (Linux: VmHWM). `ru_maxrss` is not: after
    fork and exec it starts from the parent's peak, and the parent has just filled a
    database."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _measure(url: str) -> list[dict[str, float]]:
    from bot.config import TimeRules
    from bot.reminders import ReminderService
    from bot.services import CaseService
    from storage.db import create_async_db_engine
    from storage.uow import UnitOfWorkFactory
    from tests.support.clock import FakeClock

    engine = create_async_db_engine(url)
    clock = FakeClock(DAY1)
    service = CaseService(UnitOfWorkFactory(engine), clock)
    reminders = ReminderService(service.uow, service, TimeRules(), TZ)
    out = []
    try:
        steps = (("catch-up", DAY1), ("steady", DAY1.replace(minute=1)),
                 ("next day", DAY2), ("next day, steady", DAY2.replace(minute=1)))
        for label, moment in steps:
            clock.current = moment
            t0 = time.perf_counter()
            run = await reminders.run()
            seconds = time.perf_counter() - t0
            rss = peak_rss_mb()
            queued = (run.pings + run.clock_pings + run.escalations + run.clock_escalations
                      + run.daily)
            print(f"    {label:18s} {seconds:8.2f} s  peak {rss:6.0f} MB  {run}",
                  file=sys.stderr, flush=True)
            out.append({"label": label, "seconds": seconds, "rss_mb": rss, "queued": queued,
                        "rungs": run.rungs})  # type: ignore[dict-item]
    finally:
        await engine.dispose()
    return out


def measure(url: str) -> list[dict[str, float]]:
    """Run the measurement in a child process, so its peak RSS is the reminder run's own."""
    done = subprocess.run([sys.executable, __file__, "--measure", url], check=True,
                          stdout=subprocess.PIPE, text=True, cwd=ROOT)
    result: list[dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg-url", default=os.environ.get("DUDAO_BENCH_PG_URL"))
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(asyncio.run(_measure(args.measure))))
        return 0
    print(f"load average at start: {os.getloadavg()}", file=sys.stderr)
    rows = []
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        workdir = Path(tempfile.mkdtemp(prefix="dudao-bench-rem-"))
        pg = start_postgres(args.pg_url) if backend == "postgres" else None
        stores = pg_stores(pg.admin_url) if pg else sqlite_stores(workdir, keep=False)
        try:
            for cases in args.cases:
                url = stores.create(f"dudao_rem_{cases}")
                try:
                    counts = fill(url, cases, backend, args.batch, args.seed)
                    print(f"[{backend} {cases:,}] measuring ({counts['open']:,} open cases)",
                          file=sys.stderr, flush=True)
                    for step in measure(url):
                        rows.append((backend, counts, step))
                finally:
                    stores.drop(url)
        finally:
            if pg:
                pg.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    print("| backend | cases | open | run | seconds | queued | peak RSS MB |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for backend, counts, step in rows:
        print(f"| {backend} | {counts['cases']:,} | {counts['open']:,} | {step['label']} | "
              f"{step['seconds']:.2f} | {int(step['queued']):,} | {step['rss_mb']:.0f} |")
    print(f"load average at end: {os.getloadavg()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
