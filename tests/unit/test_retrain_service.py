"""The retraining service: staff only, one at a time, the outcome told to every staff member
in Chinese (with the gate's reasons when the old model stays), the predictor told to look."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.domain import DomainError
from bot.messages import t
from bot.retrain import RetrainRules, RetrainService, describe_failures
from classifier.retrain import GateFailure, GateResult, RetrainOutcome, Scores
from tests.support.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory

STAFF, OTHER_STAFF, SUP = 3001, 3002, 2001
NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
SCORES = Scores(0.97, {"homework_burden": 0.99}, 0.985, 0.8)


def outcome(installed: bool, failures: tuple[GateFailure, ...] = ()) -> RetrainOutcome:
    return RetrainOutcome(installed, "v2", "v1", 3, GateResult(SCORES, SCORES, failures))


class Reloader:
    def __init__(self) -> None:
        self.checks = 0

    def check(self, force: bool = False) -> bool:
        self.checks += 1
        return True


def world(trainer: Any, reloader: Any = None) -> tuple[RetrainService, FakeUnitOfWorkFactory]:
    store = FakeStore()
    store.add_person("ST1", "陈老师", "staff", STAFF)
    store.add_person("ST2", "周老师", "staff", OTHER_STAFF)
    store.add_person("S01", "王督学", "responsible", SUP)
    uow = FakeUnitOfWorkFactory(store)
    folder = Path(tempfile.mkdtemp(prefix="retrain-"))  # where the attempt time is kept
    rules = RetrainRules(corpus_dir=folder / "corpus", model_path=folder / "model")
    return RetrainService(uow, FakeClock(NOW), rules, trainer, reloader), uow


async def test_an_installed_model_is_served_and_staff_are_told() -> None:
    seen: list[list[tuple[str, str]]] = []
    reloader = Reloader()
    service, uow = world(lambda corrections: seen.append(corrections) or outcome(True),
                         reloader)
    result = await service.run()
    assert result.installed and seen == [[]] and reloader.checks == 1
    sent = uow.store.outbox
    assert {m.chat_id for m in sent} == {STAFF, OTHER_STAFF}
    assert {m.notice.key for m in sent} == {"retrain.installed"}


async def test_a_refused_model_is_explained_to_staff_in_chinese() -> None:
    failures = (GateFailure("recall_dropped", {"label": "homework_burden", "old": 0.99,
                                               "new": 0.5}),
                GateFailure("macro_f1_dropped", {"old": 0.97, "new": 0.81}))
    reloader = Reloader()
    service, uow = world(lambda _c: outcome(False, failures), reloader)
    await service.run()
    assert reloader.checks == 0
    [notice] = {m.notice.key: m.notice for m in uow.store.outbox}.values()
    assert notice.key == "retrain.kept_old"
    reasons = str(notice.params["reasons"])
    assert reasons == describe_failures(outcome(False, failures))
    assert t("category.homework_burden") in reasons and "99.0%" in reasons
    assert "50.0%" in reasons and "81.0%" in reasons


async def test_only_staff_may_ask_and_only_one_runs_at_a_time() -> None:
    release = threading.Event()
    started = asyncio.Event()

    def slow(_corrections: Any) -> RetrainOutcome:
        asyncio.run_coroutine_threadsafe(_set(started), loop)
        release.wait(10)
        return outcome(True)

    async def _set(event: asyncio.Event) -> None:
        event.set()

    loop = asyncio.get_running_loop()
    service, _uow = world(slow)
    for user in (SUP, 999):
        with pytest.raises(DomainError):
            await service.request(user)
    await service.request(STAFF)
    task = asyncio.create_task(service.run())
    await started.wait()  # the event loop keeps running while training runs in a thread
    with pytest.raises(DomainError) as err:
        await service.request(STAFF)
    assert err.value.key == "retrain.busy"
    release.set()
    assert (await task).installed


async def test_a_failing_training_is_told_and_keeps_the_old_model() -> None:
    def broken(_corrections: Any) -> RetrainOutcome:
        raise RuntimeError("corpus missing")

    service, uow = world(broken)
    assert await service.run() is None
    assert {m.notice.key for m in uow.store.outbox} == {"retrain.failed"}


async def test_the_weekly_job_retrains_and_skips_while_one_runs() -> None:
    from scheduler.jobs import RetrainJob

    calls: list[int] = []
    service, _uow = world(lambda c: calls.append(1) or outcome(True))
    job = RetrainJob(service, days=7)
    assert (await job.run_once()).installed and calls == [1]  # type: ignore[union-attr]
    async with service._lock:  # one already running (e.g. a staff member's /retrain)
        assert await job.run_once() is None
    assert calls == [1]


async def test_the_weekly_job_counts_from_the_last_attempt(tmp_path: Path) -> None:
    from datetime import timedelta

    from scheduler.jobs import RetrainJob

    store = FakeStore()
    store.add_person("ST1", "陈老师", "staff", STAFF)
    rules = RetrainRules(corpus_dir=tmp_path, model_path=tmp_path / "model")
    service = RetrainService(FakeUnitOfWorkFactory(store), FakeClock(NOW), rules,
                             lambda _c: outcome(False))
    job = RetrainJob(service, days=7)
    assert job.first_run(NOW) == NOW + timedelta(days=7)  # never tried: a week from now
    await service.run()  # refused, but attempted: recorded beside the versions
    assert service.last_attempt() == NOW
    assert job.first_run(NOW + timedelta(days=2)) == NOW + timedelta(days=7)
    later = NOW + timedelta(days=30)  # the bot was down: due, a few minutes after start
    assert job.first_run(later) == later + timedelta(minutes=5)
