"""Storage and services on real databases (each test runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import Disposition, DomainError, Status
from bot.filing import RecentFilings, Rules
from bot.health import check_health
from bot.invites import InviteService
from bot.ports import Notice
from storage.db import session_factory
from storage.models import CaseEventRow, CaseRow, OutboxRow, Person
from tests.support.outbox import shown
from tests.support.services import filing, tip

pytestmark = pytest.mark.postgres


async def count(engine: AsyncEngine, model: object) -> int:
    async with session_factory(engine)() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def test_hundred_concurrent_filings_get_distinct_references(services) -> None:
    service, _, engine = services
    filer = filing(service)
    results = await asyncio.gather(*(filer.file_tip(tip(user=10_000 + i)) for i in range(100)))
    refs = {r.reference for r in results}
    assert len(refs) == 100
    assert sorted(refs) == [f"SJ-2026-{n:06d}" for n in range(1, 101)]
    assert await count(engine, CaseRow) == 100
    async with session_factory(engine)() as s:
        filed = (await s.execute(select(func.count()).select_from(CaseEventRow)
                                 .where(CaseEventRow.action == "filed"))).scalar_one()
    assert filed == 100


async def test_filed_tip_is_routed_and_supervisor_is_queued_a_masked_message(services) -> None:
    service, _, engine = services
    filed = await filing(service).file_tip(tip(text="电话13812345678，作业太多"))
    assert filed.status is Status.ASSIGNED and filed.handler_role == "responsible"
    async with session_factory(engine)() as s:
        row, reply = (await s.execute(select(OutboxRow).order_by(OutboxRow.id))).scalars()
    text = shown(row).text
    assert row.chat_id == 2001 and "13812345678" not in text and "138****5678" in text
    # The parent's reference, written with the case and leased to the handler that replies.
    assert (reply.kind, reply.dedup_key) == ("filed", f"filed:{filed.reference}")
    assert filed.reference in shown(reply).text and reply.sent_at is None


async def test_uncertain_or_unresolved_tips_go_to_triage(services) -> None:
    service, _, _ = services
    low = await filing(service).file_tip(tip(confidence=0.4))
    nowhere = await filing(service).file_tip(tip(school_code=None))
    assert low.status is Status.TRIAGE and nowhere.status is Status.TRIAGE
    assert low.handler_role == "triage"


async def test_rate_limit_refuses_and_stores_nothing(services) -> None:
    service, clock, engine = services
    limited = filing(service, Rules(tips_per_hour=2, threshold=0.6))
    await limited.file_tip(tip())
    await limited.file_tip(tip())
    with pytest.raises(DomainError) as err:
        await limited.file_tip(tip())
    assert err.value.key == "tip.error.rate_limited"
    assert await count(engine, CaseRow) == 2
    clock.current += timedelta(hours=1, seconds=1)
    await limited.file_tip(tip())
    assert await count(engine, CaseRow) == 3


async def test_early_limit_answer_follows_filings_here_and_elsewhere(services) -> None:
    service, clock, _ = services
    rules = Rules(tips_per_hour=2, threshold=0.6)
    here = filing(service, rules)
    # Another instance whose record ages out at once, so it reads the database every time.
    elsewhere = filing(service, rules, RecentFilings(ttl=0))
    assert (await here.filing_status(1001))[1] and (await elsewhere.filing_status(1001))[1]
    await here.file_tip(tip())
    await here.file_tip(tip())
    assert not (await here.filing_status(1001))[1]  # its own commits, no re-read needed
    assert (await here.filing_status(1002))[1]  # other parents are not affected
    assert not (await elsewhere.filing_status(1001))[1]
    clock.current += timedelta(hours=1, seconds=1)
    assert (await here.filing_status(1001))[1] and (await elsewhere.filing_status(1001))[1]


async def test_case_life_through_services_keeps_an_ordered_audit(services) -> None:
    service, _, _ = services
    ref = (await filing(service).file_tip(tip())).reference
    await service.perform(2001, ref, lambda c, a, now: c.accept(a, now))
    await service.perform(2001, ref, lambda c, a, now: c.propose(
        a, Disposition.RECTIFY, now, deadline=date(2026, 12, 10)))
    await service.perform(3001, ref, lambda c, a, now: c.approve_proposal(a, now))
    _, case = await service.view(3001, ref)
    assert case.status is Status.RECTIFYING and case.rectify_deadline == date(2026, 12, 10)
    assert [e.action for e in case.events] == ["filed", "routed", "accepted", "proposed",
                                               "approved"]
    assert all(e.at.tzinfo is not None for e in case.events)


async def test_foreign_supervisor_and_parent_change_nothing(services) -> None:
    service, _, _ = services
    ref = (await filing(service).file_tip(tip())).reference
    for user in (2002, 9999, 1002):  # other supervisor, stranger, other parent
        with pytest.raises(DomainError) as err:
            await service.perform(user, ref, lambda c, a, now: c.accept(a, now))
        assert err.value.key == "case.error.not_found"
    with pytest.raises(DomainError):
        await service.perform(1001, ref, lambda c, a, now: c.accept(a, now))  # the parent
    _, case = await service.view(2001, ref)
    assert case.status is Status.ASSIGNED and len(case.events) == 2


async def test_audit_events_are_append_only_in_the_database(services) -> None:
    service, _, engine = services
    await filing(service).file_tip(tip())
    for sql in ("UPDATE case_events SET comment = 'x'", "DELETE FROM case_events"):
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError):
                await conn.execute(text(sql))
    assert await count(engine, CaseEventRow) == 2


async def test_invite_binds_once_and_expires(services) -> None:
    service, clock, engine = services
    invites = InviteService(service.uow, clock)
    code, expires = await invites.issue("T01", "supervisor", hours=24)
    assert expires == clock.current + timedelta(hours=24)
    person = await invites.bind(4001, code)
    assert person.code == "T01"
    with pytest.raises(DomainError):
        await invites.bind(4002, code)  # used
    stale, _ = await invites.issue("ST1", "staff", hours=1)
    clock.current += timedelta(hours=2)
    with pytest.raises(DomainError):
        await invites.bind(4003, stale)  # expired
    with pytest.raises(DomainError):
        await invites.issue("S01", "staff")  # not a staff member
    async with session_factory(engine)() as s:
        bound = dict((await s.execute(select(Person.code, Person.telegram_user_id))).all())
    assert bound["T01"] == 4001 and bound["ST1"] == 3001


async def test_outbox_dedup_key_sends_a_reminder_once(services) -> None:
    service, clock, engine = services
    for _ in range(2):
        async with service.uow() as uow:
            await uow.outbox.enqueue(2001, "ping", Notice.plain("提醒"), clock.now(),
                                   dedup_key="ping:1:d0")
            await uow.commit()
    assert await count(engine, OutboxRow) == 1


async def test_health_reports_the_due_outbox_backlog(services) -> None:
    service, clock, _ = services
    healthy = await check_health(service.uow, clock)
    assert (healthy.outbox_due, healthy.oldest_due_seconds, healthy.status) == (0, 0.0, "ok")
    await service.send_later(555, "filed", "您的案件编号：SJ-2026-000001")
    filed = await filing(service).file_tip(tip())  # also queues the supervisor's notice
    assert await filing(service).reply_sent(filed.reference)  # the handler replied
    clock.current += timedelta(minutes=10)
    behind = await check_health(service.uow, clock)
    assert behind.outbox_due == 2 and behind.oldest_due_seconds == 600.0
    assert behind.status == "degraded"


async def test_health_counts_a_failing_row_waiting_for_its_retry(services) -> None:
    service, clock, _ = services
    async with service.uow() as uow:
        await uow.outbox.enqueue(555, "filed", Notice.plain("编号"), clock.now())
        await uow.outbox.enqueue(556, "ping.soon", Notice.plain("明早提醒"), clock.now(),
                                 not_before=clock.now() + timedelta(hours=9))  # held, not late
        await uow.commit()
    clock.current += timedelta(minutes=6)
    async with service.uow() as uow:
        [row] = await uow.outbox.claim_due(clock.now(), timedelta(seconds=60), 10)
        await uow.outbox.mark_failed(row.id, "Bad Gateway", clock.now() + timedelta(minutes=5))
        await uow.commit()
    failing = await check_health(service.uow, clock)
    assert (failing.outbox_due, failing.status) == (1, "degraded")


async def test_a_lease_renewal_never_brings_a_decided_row_forward(services) -> None:
    """A renewal that races with its lane (the row was just held for the morning or set
    aside) must not make the row due again in a minute."""
    service, clock, _ = services
    async with service.uow() as uow:
        for chat in (601, 602, 603):
            await uow.outbox.enqueue(chat, "ping.due", Notice.plain("提醒"), clock.now())
        await uow.commit()
    async with service.uow() as uow:
        held, aside, sending = await uow.outbox.claim_due(clock.now(), timedelta(seconds=60))
        await uow.outbox.postpone(held.id, clock.now() + timedelta(hours=8))
        await uow.outbox.mark_failed(aside.id, "Forbidden", clock.now() + timedelta(hours=6))
        await uow.outbox.renew([held.id, aside.id, sending.id],
                               clock.now() + timedelta(seconds=120))
        await uow.commit()
    clock.current += timedelta(minutes=5)
    async with service.uow() as uow:
        assert [r.chat_id for r in await uow.outbox.claim_due(clock.now(),
                                                              timedelta(seconds=60))] == [603]
