"""Evidence through Telegram: who opens a case's files, and what reaches them.

A parent's photo carries GPS and camera EXIF (made here with Pillow). The supervisor gets
it without that metadata (read back from what arrived at the local Bot API), staff get the
original byte for byte, a stranger's forged button gets a refusal and nothing else, and the
supervisor's rectification photo is there for staff at verification (回头看).
Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from docx import Document
from sqlalchemy import select

from bot.domain import Disposition, Status
from localapi.client import FakeUser
from localapi.state import CallbackAnswer, ChatMessage
from storage.models import EvidenceRow
from tests.support.e2e import Dudao, running_dudao, settle
from tests.support.evidence import exif_of, gps_jpeg, image_size

pytestmark = pytest.mark.postgres
PARENT, SUP, OTHER_SUP, STAFF, STRANGER = 1001, 2001, 2002, 3001, 4001
WAIT = 10.0
TEXT = "城关一小三年级数学作业太多，每天写到晚上十一点，还要家长批改签字"


class StubClassifier:
    threshold = 0.5

    def predict(self, text: str) -> Any:
        return SimpleNamespace(category="homework_burden", confidence=0.9, model_version="stub",
                               top_k=[("homework_burden", 0.9)])

    def add_words(self, words: Any) -> None:
        return None


@pytest.fixture
async def bot(db_url: str, tmp_path: Path) -> AsyncIterator[Dudao]:
    async with running_dudao(db_url, StubClassifier(),
                             evidence={"dir": str(tmp_path / "evidence")}) as harness:
        yield harness


@pytest.fixture
async def people(bot: Dudao) -> SimpleNamespace:
    parent, stranger = bot.user(PARENT), bot.user(STRANGER)
    for user in (parent, stranger):
        await user.send_text("/start")
        await user.wait_for_message(timeout=WAIT)
    sup, other, staff = bot.user(SUP, "王建国"), bot.user(OTHER_SUP, "李秀兰"), bot.user(STAFF)
    await bot.bind(sup, "DX01")
    await bot.bind(other, "DX02")
    await bot.bind(staff, "DDS01", role="staff")
    return SimpleNamespace(parent=parent, sup=sup, other=other, staff=staff,
                           stranger=stranger)


def containing(*parts: str) -> Any:
    return lambda m: all(p in (m.text or "") for p in parts)


def photo_message(m: ChatMessage) -> bool:
    return m.kind == "photo"


async def press(user: FakeUser, button: str) -> CallbackAnswer:
    query = await user.press(button)
    assert query is not None
    return await user.wait_for_callback_answer(query, timeout=WAIT)


async def forged(user: FakeUser, data: str) -> CallbackAnswer:
    query = await user.press_forged(data)
    return await user.wait_for_callback_answer(query, timeout=WAIT)


async def file_with_photo(bot: Dudao, parent: FakeUser, photo: bytes) -> str:
    """The parent's own flow: the text, then the photo, then 匿名提交."""
    await parent.send_text(TEXT)
    await parent.wait_for_message(lambda m: "匿名提交" in str(m.reply_markup), timeout=WAIT)
    await parent.send_photo(photo)
    await parent.wait_for_message(containing("已收到附件"), timeout=WAIT)
    await press(parent, "匿名提交")
    filed = await parent.wait_for_message(containing("案件编号"), timeout=WAIT)
    reference = next(word for word in (filed.text or "").replace("：", " ").split()
                     if word.startswith("SJ-"))[:14]
    await bot.deliver()
    async with bot.container.uow() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and case.assignee_code == "DX01", case
    return reference


async def photos_after(user: FakeUser, count: int, seen: int) -> list[ChatMessage]:
    """Wait until `count` more photos than `seen` reached the user; return the new ones."""
    for _ in range(100):
        bot_photos = [m for m in user.messages if m.kind == "photo" and m.from_bot]
        if len(bot_photos) >= seen + count:
            return bot_photos[seen:seen + count]
        await settle(0.1)
    raise AssertionError(f"{count} photos did not arrive")


def bot_photos(user: FakeUser) -> int:
    return sum(1 for m in user.messages if m.from_bot and m.kind == "photo")


async def test_a_parents_photo_reaches_the_supervisor_without_gps_and_staff_whole(
        bot: Dudao, people: SimpleNamespace) -> None:
    original = gps_jpeg()
    assert "gps" in exif_of(original) and "camera" in exif_of(original)
    reference = await file_with_photo(bot, people.parent, original)
    await people.sup.wait_for_message(containing(reference), timeout=WAIT)

    # The supervisor opens the case, then its evidence.
    await forged(people.sup, f"s:open:{reference}")
    detail = await people.sup.wait_for_message(containing("附件：1 个"), timeout=WAIT)
    assert f"e:ev:{reference}" in detail.callback_data
    await press(people.sup, f"e:ev:{reference}")
    await people.sup.wait_for_message(containing("已去除位置"), timeout=WAIT)
    [seen_by_supervisor] = await photos_after(people.sup, 1, 0)
    cleaned = people.sup.download(seen_by_supervisor.file_id or "")
    assert exif_of(cleaned) == {}  # no GPS, no camera, no EXIF block at all
    assert image_size(cleaned) == image_size(original) and cleaned != original

    # The original is kept once, by hash; the cleaned copy's file id is remembered.
    row = await evidence_row(bot)
    assert row.sha256 and row.stored_size == len(original) and row.mime_type == "image/jpeg"
    assert row.clean_file_id == seen_by_supervisor.file_id
    stored = Path(bot.container.settings.evidence.dir) / row.sha256[:2] / row.sha256
    assert stored.read_bytes() == original
    uploads = len(bot.api.calls_of("sendPhoto"))
    await press(people.sup, f"e:ev:{reference}")
    [again] = await photos_after(people.sup, 1, 1)
    assert again.file_id == seen_by_supervisor.file_id  # sent by id, not uploaded again
    assert bot.api.calls_of("sendPhoto")[uploads].params["photo"] == again.file_id

    # Staff open the case card and get the original, metadata and all.
    await forged(people.staff, f"o:open:{reference}")
    card = await people.staff.wait_for_message(lambda m: f"e:ev:{reference}" in m.callback_data,
                                               timeout=WAIT)
    assert "查看证据（1 件）" in str(card.reply_markup)
    await press(people.staff, f"e:ev:{reference}")
    [seen_by_staff] = await photos_after(people.staff, 1, 0)
    whole = people.staff.download(seen_by_staff.file_id or "")
    assert whole == original and "gps" in exif_of(whole)

    # The parent sees their own file from their case view.
    await forged(people.parent, f"c:show:{reference}")
    view = await people.parent.wait_for_message(
        lambda m: f"e:ev:{reference}" in m.callback_data, timeout=WAIT)
    assert "查看证据（1 件）" in str(view.reply_markup)
    await press(people.parent, f"e:ev:{reference}")
    [own] = await photos_after(people.parent, 1, 0)
    assert people.parent.download(own.file_id or "") == original


async def test_a_strangers_forged_request_is_refused(bot: Dudao,
                                                     people: SimpleNamespace) -> None:
    reference = await file_with_photo(bot, people.parent, gps_jpeg())
    before = {u.id: len(u.messages) for u in (people.stranger, people.other)}
    for user, data in ((people.stranger, f"e:ev:{reference}"),
                       (people.other, f"e:ev:{reference}"),
                       (people.stranger, "e:ev:SJ-2026-999999"),
                       (people.stranger, "e:ev:"),
                       (people.other, f"e:doc:rn:{reference}")):
        answer = await forged(user, data)
        assert answer.show_alert and answer.text, (data, answer)
    await settle(0.3)
    for user in (people.stranger, people.other):
        assert len(user.messages) == before[user.id]  # no photo, no text, nothing
        assert not any(m.kind == "photo" for m in user.messages if m.from_bot)
    row = await evidence_row(bot)
    assert row.sha256 is None and row.clean_file_id is None  # nothing fetched or stored


async def test_the_rectification_photo_is_visible_at_verification(
        bot: Dudao, people: SimpleNamespace) -> None:
    parent_photo, rectified = gps_jpeg((200, 30, 30)), gps_jpeg((30, 160, 60))
    reference = await file_with_photo(bot, people.parent, parent_photo)
    cases = bot.container.cases
    await cases.perform(SUP, reference, lambda c, a, now: c.accept(a, now))
    await cases.perform(SUP, reference, lambda c, a, now: c.propose(
        a, Disposition.RECTIFY, now, deadline=date(2026, 12, 8)))
    await cases.perform(STAFF, reference, lambda c, a, now: c.approve_proposal(a, now))
    await forged(people.sup, f"s:open:{reference}")
    await people.sup.wait_for_message(containing("整改期限：2026-12-08"), timeout=WAIT)
    await press(people.sup, "报告整改完成")
    await people.sup.wait_for_message(containing("整改情况"), timeout=WAIT)
    await people.sup.send_photo(rectified)
    await people.sup.wait_for_message(containing("照片已保存"), timeout=WAIT)
    await press(people.sup, "直接提交")
    await people.sup.wait_for_message(containing("整改完成", "复查"), timeout=WAIT)
    await bot.deliver()
    notice = await people.staff.wait_for_message(containing(reference, "回头看"), timeout=WAIT)
    assert notice.callback_data  # the notice opens the case

    await press(people.staff, notice.callback_data[-1])
    card = await people.staff.wait_for_message(lambda m: f"e:ev:{reference}" in m.callback_data,
                                               timeout=WAIT)
    assert "查看证据（2 件）" in str(card.reply_markup) and "o:vok:" in str(card.reply_markup)
    await press(people.staff, f"e:ev:{reference}")
    album = await photos_after(people.staff, 2, 0)
    group = {m.content.get("media_group_id") for m in album}
    assert len(group) == 1 and None not in group  # one album (sendMediaGroup)
    assert [people.staff.download(m.file_id or "") for m in album] == [parent_photo, rectified]
    # The parent still sees only their own photo.
    await forged(people.parent, f"c:show:{reference}")
    await people.parent.wait_for_message(lambda m: f"e:ev:{reference}" in m.callback_data,
                                         timeout=WAIT)
    await press(people.parent, f"e:ev:{reference}")
    [own] = await photos_after(people.parent, 1, 0)
    await settle(0.3)
    assert bot_photos(people.parent) == 1
    assert people.parent.download(own.file_id or "") == parent_photo
    case = await _case(bot, reference)
    assert case.status is Status.RECTIFICATION_REPORTED

    # The same card issues the 整改通知书: a Word document, recorded in the history.
    assert f"e:doc:rn:{reference}" in card.callback_data
    await press(people.staff, f"e:doc:rn:{reference}")
    letter = await people.staff.wait_for_message(lambda m: m.kind == "document", timeout=WAIT)
    assert "整改通知书已生成" in (letter.text or "")
    body = "\n".join(p.text for p in Document(io.BytesIO(
        people.staff.download(letter.file_id or ""))).paragraphs)
    assert reference in body and "青溪县城关第一小学" in body and "2026年12月8日" in body
    case = await _case(bot, reference)
    assert [e.data["kind"] for e in case.events if e.action == "document_issued"] == [
        "rectification_notice"]


async def evidence_row(bot: Dudao) -> Any:
    """The one evidence row's columns (read inside the session)."""
    async with bot.container.uow() as uow:
        found = (await uow.session.execute(
            select(EvidenceRow.sha256, EvidenceRow.stored_size, EvidenceRow.mime_type,
                   EvidenceRow.clean_file_id))).one()
    return SimpleNamespace(sha256=found[0], stored_size=found[1], mime_type=found[2],
                           clean_file_id=found[3])


async def _case(bot: Dudao, reference: str) -> Any:
    async with bot.container.uow() as uow:
        return await uow.cases.get(reference)
