"""Office console pages at provincial scale: the queue and case pages over real HTTP.

Usage:
    python bench/bench_console.py [--cases 1000000] [--backend sqlite|postgres|both]
                                  [--runs 40] [--out docs/benchmarks.md (appends a section)]

Fills a freshly migrated database exactly as bench/bench_storage.py does (100 districts,
10,000 schools, 3,020 people, N cases with their audit events; progress on stderr), binds one
staff member and the busiest supervisor to Telegram ids, logs both in to the console through a
real /web token, and times the pages with an HTTP client against the console's aiohttp server
(the same app `dudao run` serves): each page `--warmups` times untimed, then `--runs` times.
The target is p95 <= 300 ms per page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from sqlalchemy import Engine, func, select, update  # noqa: E402

from bench.bench_storage import (  # noqa: E402
    fill_database,
    pg_stores,
    sqlite_stores,
    start_postgres,
)
from bot.bootstrap import build  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.domain import Status  # noqa: E402
from handlers.http import make_web_app  # noqa: E402
from handlers.telegram.app import bound_port  # noqa: E402
from handlers.web import console_routes  # noqa: E402
from storage.models import CaseRow, District, Person  # noqa: E402

TARGET_P95_MS = 300.0
STAFF_UID, SUPERVISOR_UID = 900_000_001, 900_000_002
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class PageTiming:
    who: str
    page: str
    p50: float
    p95: float
    worst: float
    size: int


@dataclass
class Fixture:
    supervisor: str
    reference: str  # a case with a full history, seen by staff
    own_reference: str  # one of the supervisor's cases
    district: str
    middle_id: int  # a keyset cursor deep in the list
    text: str  # a word for the search


def prepare(engine: Engine) -> Fixture:
    """Bind a staff member and the busiest supervisor; pick the pages' parameters."""
    with engine.begin() as conn:
        staff_id = conn.execute(select(Person.id).where(Person.role == "staff")
                                .order_by(Person.id).limit(1)).scalar_one()
        supervisor_id, supervisor = conn.execute(
            select(Person.id, Person.code).join(CaseRow, CaseRow.assignee_id == Person.id)
            .where(CaseRow.status != Status.CLOSED.value).group_by(Person.id, Person.code)
            .order_by(func.count().desc()).limit(1)).one()
        now = datetime.now(UTC)
        conn.execute(update(Person).where(Person.id == staff_id)
                     .values(telegram_user_id=STAFF_UID, bound_at=now))
        conn.execute(update(Person).where(Person.id == supervisor_id)
                     .values(telegram_user_id=SUPERVISOR_UID, bound_at=now))
        top = conn.execute(select(func.max(CaseRow.id))).scalar_one()
        reference = conn.execute(select(CaseRow.reference).where(
            CaseRow.id <= top - 1000, CaseRow.status == Status.CLOSED.value)
            .order_by(CaseRow.id.desc()).limit(1)).scalar_one()
        own = conn.execute(select(CaseRow.reference).where(
            CaseRow.assignee_id == supervisor_id).order_by(CaseRow.id.desc()).limit(1)
        ).scalar_one()
        district = conn.execute(select(District.code).order_by(District.id).limit(1)
                                ).scalar_one()
        text = conn.execute(select(CaseRow.text).where(CaseRow.id == top)).scalar_one()
    word = next((w for w in re.findall(r"[\u4e00-\u9fff]{2}", text)), "作业")
    return Fixture(supervisor, reference, own, district, top // 2, word)


async def login(http: aiohttp.ClientSession, base: str, container: object, uid: int) -> None:
    token, _ = await container.web_login.issue(uid)  # type: ignore[attr-defined]
    async with http.get(f"{base}/login/{token}") as page:
        csrf = CSRF.search(await page.text())
    assert csrf
    async with http.post(f"{base}/login/{token}", data={"csrf": csrf.group(1)}) as done:
        assert done.status == 200 and str(done.url).endswith("/cases"), done.status


async def time_pages(url: str, fx: Fixture, warmups: int, runs: int) -> list[PageTiming]:
    settings = Settings(database={"url": url},
                        telegram={"token": "123456:bench-token-not-used-ABCDEFGHIJKLMNOP"},
                        scheduler={"interval_seconds": 0},
                        web={"session_secret": "bench-secret-0123456789"})
    container = build(settings)
    runner = web.AppRunner(make_web_app(routes=[console_routes(container)]), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{bound_port(runner)}"
    pages = {
        "staff": [
            ("/cases", "queue, newest first"),
            ("/cases?status=proposed", "queue, one status (待审核)"),
            (f"/cases?category=unlicensed_tutoring&district={fx.district}",
             "queue, category + district"),
            (f"/cases?before={fx.middle_id}", "queue, a page 500,000 cases deep"),
            ("/cases?overdue=1", "queue, overdue rectifications"),
            (f"/cases?q={fx.reference}", "search by reference"),
            (f"/cases?q={fx.text}", f"search the text ({fx.text})"),
            (f"/cases/{fx.reference}", "case page (tip, evidence, timeline, actions)"),
        ],
        "supervisor": [
            ("/cases", "own queue (busiest supervisor)"),
            (f"/cases/{fx.own_reference}", "own case page"),
        ],
    }
    out: list[PageTiming] = []
    try:
        for who, uid in (("staff", STAFF_UID), ("supervisor", SUPERVISOR_UID)):
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                await login(http, base, container, uid)
                for path, label in pages[who]:
                    samples = []
                    size = 0
                    for i in range(warmups + runs):
                        t0 = time.perf_counter()
                        async with http.get(base + path) as response:
                            body = await response.read()
                            assert response.status == 200, (path, response.status)
                        if i >= warmups:
                            samples.append((time.perf_counter() - t0) * 1000)
                        size = len(body)
                    samples.sort()
                    p95 = samples[max(0, round(0.95 * len(samples)) - 1)]
                    timing = PageTiming(who, label, statistics.median(samples), p95,
                                        samples[-1], size)
                    out.append(timing)
                    print(f"    {timing.p50:7.1f} ms p50 {timing.p95:7.1f} ms p95 "
                          f"{timing.worst:7.1f} max  {who}: {label}", file=sys.stderr,
                          flush=True)
    finally:
        await runner.cleanup()
        await container.stop()
    return out


def run(backend: str, stores: object, args: argparse.Namespace) -> tuple[str, list[PageTiming]]:
    now = datetime.now(UTC).replace(microsecond=0)
    url = stores.create("dudao_console_bench")  # type: ignore[attr-defined]
    fill_args = argparse.Namespace(batch=args.batch, seed=args.seed, pg_load="copy")
    engine, _, _ = fill_database(backend, url, args.cases, fill_args, now)
    try:
        if backend == "sqlite":
            with engine.begin() as conn:  # `dudao migrate` leaves statistics to the planner
                conn.exec_driver_sql("ANALYZE")
        fx = prepare(engine)
        print(f"[{backend}] timing the console's pages", file=sys.stderr, flush=True)
        timings = asyncio.run(time_pages(url, fx, args.warmups, args.runs))
        with engine.connect() as conn:
            version = (str(conn.exec_driver_sql("SHOW server_version").scalar_one())
                       if conn.dialect.name == "postgresql" else
                       "SQLite " + str(conn.exec_driver_sql("SELECT sqlite_version()")
                                       .scalar_one()))
        return version, timings
    finally:
        engine.dispose()
        stores.drop(url)  # type: ignore[attr-defined]


def render(results: list[tuple[str, str, list[PageTiming]]], args: argparse.Namespace,
           started: datetime, load: tuple[float, float, float]) -> str:
    lines = [f"## Office console pages (`bench/bench_console.py`, {started:%Y-%m-%d})", "",
             f"{args.cases:,} cases with their audit events (bench_storage's provincial "
             f"directory); each page fetched over HTTP from the console's aiohttp server "
             f"{args.runs} times after {args.warmups} warm-ups, logged in as staff or as the "
             f"supervisor with the most open cases. Target: p95 <= {TARGET_P95_MS:.0f} ms. "
             f"Load average at start {load[0]:.1f} on {os.cpu_count()} cores.", ""]
    header = "| page | " + " | ".join(f"{b} ({v}) p50 / p95 / max ms" for b, v, _ in results)
    lines += [header + " |", "|---" * (1 + len(results)) + "|"]
    for i, first in enumerate(results[0][2]):
        cells = []
        for _, _, timings in results:
            tm = timings[i]
            mark = "" if tm.p95 <= TARGET_P95_MS else " **over**"
            cells.append(f"{tm.p50:.1f} / {tm.p95:.1f} / {tm.worst:.0f}{mark}")
        lines.append(f"| {first.who}: {first.page} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--warmups", type=int, default=3)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=20260)
    ap.add_argument("--out", type=Path, help="append the section to this Markdown file")
    args = ap.parse_args(argv)
    started = datetime.now(UTC)
    load = os.getloadavg()
    results = []
    for backend in (("sqlite", "postgres") if args.backend == "both" else (args.backend,)):
        if backend == "sqlite":
            workdir = Path(tempfile.mkdtemp(prefix="dudao-console-bench-"))
            try:
                version, timings = run(backend, sqlite_stores(workdir, False), args)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        else:
            pg = start_postgres(None)
            try:
                version, timings = run(backend, pg_stores(pg.admin_url), args)
            finally:
                pg.stop()
        results.append((backend, version, timings))
    section = render(results, args, started, load)
    print(section)
    if args.out:
        with args.out.open("a", encoding="utf-8") as out:
            out.write("\n" + section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
