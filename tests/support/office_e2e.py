"""Office end-to-end helpers: a keyword classifier, staff and supervisors, cases in each state.

Used by the office and merge end-to-end tests with `running_dudao` (tests/support/e2e.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.domain import Disposition, Status
from bot.filing import TipInput
from localapi.client import FakeUser
from localapi.state import ChatMessage
from tests.support.e2e import Dudao

STAFF_ID, SUP_ID, SUP2_ID, PARENT_ID = 7001, 7101, 7102, 7201
CANTEEN = "城关一小食堂饭菜质量差，孩子每天吃不饱，作业也很多"
HOMEWORK = "城关一小三年级数学作业每天写到晚上十一点"


@dataclass
class _Prediction:
    category: str
    confidence: float
    top_k: list[tuple[str, float]]
    model_version: str = "fake-1"


class KeywordClassifier:
    """Deterministic stand-in for the shipped model: "食堂" is uncertain, "作业" is homework."""

    threshold = 0.5

    def predict(self, text: str) -> _Prediction:
        if "食堂" in text:
            return _Prediction("other", 0.35, [("other", 0.35), ("homework_burden", 0.3)])
        if "作业" in text:
            return _Prediction("homework_burden", 0.9, [("homework_burden", 0.9)])
        return _Prediction("other", 0.2, [("other", 0.2)])

    def add_words(self, words: Any) -> None:
        return None


async def staff_user(bot: Dudao, user_id: int = STAFF_ID, code: str = "DDS01") -> FakeUser:
    user = bot.user(user_id, first_name="林晓琳")
    await bot.bind(user, code, role="staff")
    return user


async def supervisor_user(bot: Dudao, user_id: int = SUP_ID, code: str = "DX01") -> FakeUser:
    user = bot.user(user_id, first_name="王建国")
    await bot.bind(user, code)
    return user


async def file(bot: Dudao, text: str = HOMEWORK, **kw: Any) -> str:
    values: dict[str, Any] = {"text": text, "reporter_user_id": PARENT_ID,
                              "category": "homework_burden", "confidence": 0.9,
                              "school_code": "QX-S001"}
    values.update(kw)
    return (await bot.container.filing.file_tip(TipInput(**values))).reference


async def proposed(bot: Dudao, disposition: Disposition = Disposition.UNFOUNDED) -> str:
    reference = await file(bot)
    cases = bot.container.cases
    await cases.perform(SUP_ID, reference, lambda c, a, now: c.accept(a, now))
    await cases.perform(SUP_ID, reference, lambda c, a, now: c.propose(
        a, disposition, now, note="经核查", deadline=(
            date(2026, 12, 8) if disposition is Disposition.RECTIFY else None)))
    return reference


async def reported(bot: Dudao) -> str:
    reference = await proposed(bot, Disposition.RECTIFY)
    await bot.container.cases.perform(STAFF_ID, reference,
                                      lambda c, a, now: c.approve_proposal(a, now))
    await bot.container.cases.perform(SUP_ID, reference,
                                      lambda c, a, now: c.report_rectified(a, "已整改", now))
    return reference


async def status_of(bot: Dudao, reference: str) -> Status:
    async with bot.container.uow() as uow:
        case = await uow.cases.get(reference)
    assert case is not None
    return case.status


async def event_count(bot: Dudao) -> int:
    return await bot.uow_count("SELECT count(*) FROM case_events")


def has(text: str) -> Any:
    return lambda m: text in (m.text or "")


def edited(message: ChatMessage) -> bool:
    return message.edit_date is not None


async def open_from_queue(user: FakeUser, command: str, reference: str) -> ChatMessage:
    await user.send_text(command)
    await user.wait_for_message(  # the list, not a notification naming the same case
        lambda m: reference in (m.text or "") and bool(m.inline_keyboard), timeout=10)
    await user.press(f"查看 {reference}")
    return await user.wait_for_message(
        lambda m: reference in (m.text or "") and "线索内容" in (m.text or ""), timeout=10)


def forge(user: FakeUser, data: str) -> str:
    """Press a button the bot never showed this user, as a tampering client could."""
    message = user.last_message
    assert message is not None
    return user._press_inline(message, {"text": "x", "callback_data": data})
