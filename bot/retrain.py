"""Retraining from staff corrections: weekly by the scheduler, or `/retrain` by staff.

Training runs in a worker thread, so the event loop keeps serving; one retraining at a time.
The gate (classifier/retrain.py) decides; the outcome is told to every bound staff member
through the outbox, in Chinese, with the reasons when the old model was kept. The running
bot serves an installed model at once (the reloading predictor is told to look now).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.domain import InvalidTransition
from bot.messages import t
from bot.notices import staff_notice, tell_staff
from bot.ports import Clock, UnitOfWorkFactory
from bot.services import staff_member

log = logging.getLogger(__name__)

Trainer = Callable[[list[tuple[str, str]]], Any]  # corrections -> RetrainOutcome (blocking)


@dataclass(frozen=True)
class RetrainRules:
    corpus_dir: Path
    model_path: Path
    keep: int = 5
    fallback: Path | None = None  # the model compared against before any version exists


def describe_failures(outcome: Any) -> str:
    """The gate's reasons as Chinese lines (the catalogue's retrain.reason.* texts)."""
    lines = []
    for failure in outcome.gate.failures:
        fields = dict(failure.fields)
        if "label" in fields:
            fields["name"] = t(f"category.{fields['label']}")
        for key in ("old", "new", "precision", "target"):
            if key in fields:
                fields[key] = f"{float(fields[key]) * 100:.1f}%"
        lines.append(t(f"retrain.reason.{failure.code}", **fields))
    return "\n".join(lines)


class RetrainService:
    """Read the corrections, train and gate in a thread, install, tell staff."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, rules: RetrainRules,
                 trainer: Trainer | None = None, reloader: Any = None) -> None:
        self.uow = uow
        self.clock = clock
        self.rules = rules
        self.reloader = reloader  # the bot's ReloadingClassifier, told to look after installs
        self._trainer = trainer or self._default_trainer
        self._lock = asyncio.Lock()

    def _default_trainer(self, corrections: list[tuple[str, str]]) -> Any:
        from classifier.retrain import retrain

        return retrain(self.rules.corpus_dir, self.rules.model_path, corrections,
                       keep=self.rules.keep, fallback=self.rules.fallback)

    @property
    def running(self) -> bool:
        return self._lock.locked()

    async def request(self, user_id: int) -> None:
        """Staff's `/retrain`: refused to non-staff and while one is running."""
        await staff_member(self.uow, user_id)
        if self.running:
            raise InvalidTransition("retrain.busy")

    async def run(self) -> Any:
        """Retrain once (the scheduler's job, or after `request`); returns the outcome."""
        async with self._lock:
            async with self.uow.read() as uow:
                corrections = await uow.cases.corrections()
            try:
                outcome = await asyncio.to_thread(self._trainer, list(corrections))
            except Exception as exc:
                self._record()
                log.exception("retraining failed")
                await self._tell(staff_notice("retrain.failed", error=str(exc)[:200]))
                return None
            self._record()
            if outcome.installed:
                if self.reloader is not None:
                    await asyncio.to_thread(self.reloader.check, True)
                log.info("retrained: installed %s (was %s)", outcome.version,
                         outcome.old_version)
                await self._tell(staff_notice(
                    "retrain.installed", version=outcome.version,
                    old=outcome.old_version or "—", corrections=outcome.corrections,
                    f1=f"{outcome.gate.new.macro_f1:.4f}",
                    precision=f"{outcome.gate.new.precision_at_threshold * 100:.1f}%"))
            else:
                log.info("retrained: %s kept (%s refused)", outcome.old_version,
                         outcome.version)
                await self._tell(staff_notice(
                    "retrain.kept_old", version=outcome.version,
                    old=outcome.old_version or "—", corrections=outcome.corrections,
                    reasons=describe_failures(outcome)))
            return outcome

    def last_attempt(self) -> datetime | None:
        """When retraining last ran (kept beside the model versions, survives restarts)."""
        from classifier.versions import last_retrain

        return last_retrain(self.rules.model_path)

    def _record(self) -> None:
        from classifier.versions import record_retrain

        try:
            record_retrain(self.rules.model_path, self.clock.now())
        except OSError:
            log.warning("cannot record the retraining time under %s", self.rules.model_path)

    async def _tell(self, notice: Any) -> None:
        now = self.clock.now()
        async with self.uow() as uow:
            await tell_staff(uow, "retrain", notice, now)
            await uow.commit()
