"""Parents file and follow tips through the real Application and a local Bot API server."""

from __future__ import annotations

from sqlalchemy import select, text

from bot.domain import Rating, Status
from bot.ports import EvidenceItem
from storage.models import CaseRow
from tests.support.e2e import HOMEWORK, Dudao, file_anonymously, reference_in, settle


async def test_start_sets_commands_and_welcomes(dudao: Dudao) -> None:
    parent = dudao.user(1001)
    await parent.send_text("/start")
    welcome = await parent.wait_for_message(timeout=10)
    assert "双减" in (welcome.text or "") and "匿名" in (welcome.text or "")
    commands = [c["command"] for group in dudao.api.bot().commands.values() for c in group]
    assert {"report", "mycases", "cancel", "privacy", "help"} <= set(commands)


async def test_named_school_tip_takes_two_parent_messages(dudao: Dudao) -> None:
    parent = dudao.user(1002)
    await parent.send_text(HOMEWORK)  # parent message 1
    summary = await parent.wait_for_message(timeout=10)
    assert "作业负担" in (summary.text or "") and "城关第一小学" in (summary.text or "")
    await parent.press("匿名提交")  # parent message 2
    filed = await parent.wait_for_message(lambda m: "案件编号" in (m.text or ""), timeout=10)
    reference = reference_in(filed.text)
    assert "责任督学" in (filed.text or "") and "1个工作日" in (filed.text or "")
    async with dudao.container.uow() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and case.status is Status.ASSIGNED
    assert case.school_code == "QX-S001" and case.assignee_code == "DX01"
    assert [e.action for e in case.events] == ["filed", "routed"]


async def test_anonymous_tip_stores_no_identity(dudao: Dudao) -> None:
    reference = await file_anonymously(dudao, 1003)
    async with dudao.container.uow() as uow:
        row = (await uow.session.execute(
            select(CaseRow).where(CaseRow.reference == reference))).scalar_one()
        assert row.anonymous and row.reporter_name is None and row.reporter_phone is None


async def test_named_tip_with_shared_phone(dudao: Dudao) -> None:
    parent = dudao.api.user(1004, first_name="王芳", phone_number="+8613912345678")
    await parent.send_text(HOMEWORK)
    await parent.wait_for_message(timeout=10)
    await parent.press("实名提交")
    ask = await parent.wait_for_message(timeout=10)
    assert "分享手机号" in str(ask.reply_markup)
    await parent.send_contact()
    reference = reference_in((await parent.wait_for_message(
        lambda m: "案件编号" in (m.text or ""), timeout=10)).text)
    async with dudao.container.uow() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and not case.anonymous
    assert case.reporter_name == "王芳" and case.reporter_phone == "+8613912345678"


async def test_parent_picks_the_school_from_buttons(dudao: Dudao) -> None:
    parent = dudao.user(1005)
    await parent.send_text("学校三年级的作业太多了，每天写到半夜，孩子哭着写作业")
    question = await parent.wait_for_message(timeout=10)
    assert "哪所学校" in (question.text or "")
    await parent.press("都不是，我来输入")
    await parent.wait_for_message(timeout=10)
    await parent.send_text("城关二小")
    choices = await parent.wait_for_message(timeout=10)
    assert "青溪县城关第二小学" in str(choices.reply_markup)
    await parent.press("青溪县城关第二小学")
    summary = await parent.wait_for_message(timeout=10)
    assert "城关第二小学" in (summary.text or "")
    await parent.press("匿名提交")
    reference = reference_in((await parent.wait_for_message(
        lambda m: "案件编号" in (m.text or ""), timeout=10)).text)
    async with dudao.container.uow() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and case.school_code == "QX-S002"


async def test_no_school_and_parent_will_not_say_goes_to_triage(dudao: Dudao) -> None:
    parent = dudao.user(1006)
    await parent.send_text("孩子学校作业太多了，每天都写到十一点以后")
    await parent.wait_for_message(timeout=10)
    await parent.press("不清楚/跳过")
    summary = await parent.wait_for_message(timeout=10)
    assert "督导室分办" in (summary.text or "")
    await parent.press("匿名提交")
    filed = await parent.wait_for_message(lambda m: "案件编号" in (m.text or ""), timeout=10)
    assert "督导室" in (filed.text or "")
    async with dudao.container.uow() as uow:
        case = await uow.cases.get(reference_in(filed.text))
    assert case is not None and case.status is Status.TRIAGE


async def test_photo_evidence_is_kept_with_the_case(dudao: Dudao) -> None:
    parent = dudao.user(1007)
    await parent.send_text(HOMEWORK)
    await parent.wait_for_message(timeout=10)
    await parent.send_photo(caption="这是作业本")
    added = await parent.wait_for_message(timeout=10)
    assert "附件" in (added.text or "")
    await parent.press("匿名提交")
    reference = reference_in((await parent.wait_for_message(
        lambda m: "案件编号" in (m.text or ""), timeout=10)).text)
    async with dudao.container.uow() as uow:
        case = await uow.cases.get(reference)
        assert case is not None
        evidence = await uow.cases.evidence(case)
        assert len(evidence) == 1 and evidence[0].kind == "photo" and evidence[0].file_id
        assert isinstance(evidence[0], EvidenceItem)
    assert "这是作业本" in case.text


async def test_mycases_lists_and_shows_history(dudao: Dudao) -> None:
    reference = await file_anonymously(dudao, 1008)
    parent = dudao.api.user(1008)
    await parent.send_text("/mycases")
    listing = await parent.wait_for_message(timeout=10)
    assert reference in (listing.text or "") and "已分派督学" in (listing.text or "")
    await parent.press(reference)
    detail = await parent.wait_for_message(timeout=10)
    assert "提交线索" in (detail.text or "") and "分派给责任督学" in (detail.text or "")


async def test_parent_rates_a_closed_case_once(dudao: Dudao) -> None:
    reference = await file_anonymously(dudao, 1009)
    cases = dudao.container.cases
    supervisor, staff = 777001, 777002
    await dudao.bind(dudao.user(supervisor, "王建国"), "DX01")
    await dudao.bind(dudao.user(staff, "林晓琳"), "DDS01", role="staff")
    from bot.domain import Disposition

    await cases.perform(supervisor, reference, lambda c, a, now: c.accept(a, now))
    await cases.perform(supervisor, reference, lambda c, a, now: c.propose(
        a, Disposition.FIXED, now, note="学校已调整作业量"))
    await cases.perform(staff, reference, lambda c, a, now: c.approve_proposal(a, now))
    await dudao.deliver()
    parent = dudao.api.user(1009)
    closed = await parent.wait_for_message(lambda m: "已办结" in (m.text or ""), timeout=10)
    assert "属实已整改" in (closed.text or "")
    await parent.press("满意")
    await parent.wait_for_message(lambda m: "意见" in (m.text or ""), timeout=10)
    await parent.send_text("处理很及时，谢谢")
    thanks = await parent.wait_for_message(lambda m: "感谢" in (m.text or ""), timeout=10)
    assert reference in (thanks.text or "")
    async with dudao.container.uow() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and case.rating is Rating.SATISFIED
    assert case.rating_comment == "处理很及时，谢谢"
    await parent.press("不满意")  # the old rating buttons, tapped again later
    await parent.wait_for_message(lambda m: "意见" in (m.text or ""), timeout=10)
    await parent.press("跳过")
    answer = await parent.wait_for_callback_answer(timeout=10)
    assert "已经评价过" in (answer.text or "")
    async with dudao.container.uow() as uow:
        again = await uow.cases.get(reference)
    assert again is not None and again.rating is Rating.SATISFIED


async def test_flooding_parent_is_limited_and_nothing_half_saved(dudao: Dudao) -> None:
    limit = dudao.container.settings.cases.tips_per_hour
    for i in range(limit):
        await file_anonymously(dudao, 1010, HOMEWORK + f"（第{i + 1}次反映）")
    parent = dudao.api.user(1010)
    await parent.send_text("二中食堂饭菜太差了")
    refusal = await parent.wait_for_message(timeout=10)
    assert "一小时内" in (refusal.text or "")
    assert await dudao.uow_count("SELECT count(*) FROM cases WHERE reporter_user_id = 1010") \
        == limit


async def test_bad_inputs_get_clear_answers_and_change_nothing(dudao: Dudao) -> None:
    parent = dudao.user(1011)
    await parent.send_sticker()
    assert "暂不支持" in ((await parent.wait_for_message(timeout=10)).text or "")
    await parent.send_voice()
    assert "暂不支持" in ((await parent.wait_for_message(timeout=10)).text or "")
    await parent.send_text("   \u200b  ")
    assert "文字" in ((await parent.wait_for_message(timeout=10)).text or "")
    await parent.send_text("作业" * 1500)
    assert "太长" in ((await parent.wait_for_message(timeout=10)).text or "")
    await parent.send_text("/frobnicate")
    assert "没有这个命令" in ((await parent.wait_for_message(timeout=10)).text or "")
    await parent.send_photo()
    assert "先用文字" in ((await parent.wait_for_message(timeout=10)).text or "")
    assert await dudao.uow_count("SELECT count(*) FROM cases") == 0


async def test_traditional_and_english_tips_are_understood(dudao: Dudao) -> None:
    parent = dudao.user(1012)
    await parent.send_text("城關一小老師每天布置很多作業，孩子寫到晚上十一點，homework太多了")
    summary = await parent.wait_for_message(timeout=10)
    assert "作业负担" in (summary.text or "")


async def test_cancel_drops_the_draft(dudao: Dudao) -> None:
    parent = dudao.user(1013)
    await parent.send_text(HOMEWORK)
    await parent.wait_for_message(timeout=10)
    await parent.send_text("/cancel")
    assert "已取消" in ((await parent.wait_for_message(timeout=10)).text or "")
    await parent.press("匿名提交")
    answer = await parent.wait_for_callback_answer(timeout=10)
    assert "已提交或已取消" in (answer.text or "")
    assert await dudao.uow_count("SELECT count(*) FROM cases") == 0


async def test_another_parent_forging_case_buttons_changes_nothing(dudao: Dudao) -> None:
    reference = await file_anonymously(dudao, 1020)
    owner_count = await dudao.uow_count("SELECT count(*) FROM case_events")
    other = dudao.user(1021, "陌生家长")
    await other.send_text("/mycases")
    await other.wait_for_message(timeout=10)
    for data in (f"c:show:{reference}", f"c:info:{reference}", f"c:rate:{reference}:satisfied",
                 f"c:ratenow:{reference}:dissatisfied", f"c:reopen:{reference}"):
        query_id = await other.press_forged(data)
        answer = await other.wait_for_callback_answer(query_id, timeout=10)
        assert answer.show_alert and "没有找到" in (answer.text or ""), (data, answer.text)
    await other.send_text("我补充一句：孩子每天写到十二点")  # answers nothing: a new tip
    question = await other.wait_for_message(timeout=10)
    assert "哪所学校" in (question.text or "") and reference not in (question.text or "")
    async with dudao.container.uow() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and case.status is Status.ASSIGNED and case.rating is None
    assert len(case.events) == 2 and case.reporter_user_id == 1020
    assert await dudao.uow_count("SELECT count(*) FROM case_events") == owner_count


async def test_flood_of_updates_is_told_once_then_ignored_until_the_minute_passes(
        dudao: Dudao) -> None:
    limit = dudao.container.settings.telegram.updates_per_minute
    parent = dudao.user(1030)
    for _ in range(limit):
        await parent.send_text("/help")
        assert "使用方法" in ((await parent.wait_for_message(timeout=10)).text or "")
    await parent.send_text("/help")
    notice = await parent.wait_for_message(timeout=10)
    assert "太快" in (notice.text or "") and str(limit) in (notice.text or "")
    await parent.send_text(HOMEWORK)  # still flooding: ignored, no draft, no second notice
    await parent.press_forged("d:anon")
    await settle(0.5)
    assert len(parent.messages) == limit + 1
    assert await dudao.uow_count("SELECT count(*) FROM cases WHERE reporter_user_id = 1030") == 0
    other = dudao.user(1031)  # other parents are not slowed down
    await other.send_text("/help")
    assert "使用方法" in ((await other.wait_for_message(timeout=10)).text or "")
    dudao.clock.advance(seconds=61)
    await parent.send_text("/help")
    assert "使用方法" in ((await parent.wait_for_message(timeout=10)).text or "")


async def test_only_the_reporter_may_rate_reopen_or_add_information(dudao: Dudao) -> None:
    """A supervisor or staff member pressing a parent's button is refused at once: no
    question is asked and their next text is not taken as a rating or an answer."""
    reference = await file_anonymously(dudao, 1040)
    supervisor, staff = dudao.user(1041, "王建国"), dudao.user(1042, "林晓琳")
    await dudao.bind(supervisor, "DX01")  # the case's own supervisor: may see it
    await dudao.bind(staff, "DDS01", role="staff")  # staff see every case
    events = await dudao.uow_count("SELECT count(*) FROM case_events")
    for official in (supervisor, staff):
        told = len(official.messages)
        for data in (f"c:rate:{reference}:satisfied", f"c:info:{reference}",
                     f"c:reopen:{reference}", f"c:ratenow:{reference}:dissatisfied"):
            query_id = await official.press_forged(data)
            answer = await official.wait_for_callback_answer(query_id, timeout=10)
            assert answer.show_alert and "只有提交此线索的家长" in (answer.text or ""), (
                data, answer.text)
        await settle(0.3)
        assert len(official.messages) == told  # nothing asked
        await official.send_text("非常满意")  # no open question: not a rating comment
        reply = await official.wait_for_message(timeout=10)
        assert "已绑定为督学或督导室工作人员" in (reply.text or "")
    async with dudao.container.uow() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and case.rating is None and case.status is Status.ASSIGNED
    assert await dudao.uow_count("SELECT count(*) FROM case_events") == events


async def test_refusals_escape_names_from_the_directory(dudao: Dudao) -> None:
    async with dudao.container.uow() as uow:
        await uow.session.execute(text("UPDATE people SET name = '张<b>&三' WHERE code = 'DX01'"))
        await uow.commit()
    person = dudao.user(1050, "张三")
    await dudao.bind(person, "DX01")
    assert "张<b>&三" in (person.messages[-1].text or "")
    code, _ = await dudao.container.invites.issue("DX02", "supervisor")
    await person.send_text(f"/bind {code}")  # already bound: refused, naming the binding
    refusal = await person.wait_for_message(timeout=10)
    assert "已绑定为 张<b>&三" in (refusal.text or ""), refusal.text


async def test_added_information_promises_a_notice_only_when_a_supervisor_gets_one(
        dudao: Dudao) -> None:
    reference = await file_anonymously(dudao, 1013)
    parent = dudao.api.user(1013)

    async def add(text: str) -> str:
        await parent.press_forged(f"c:info:{reference}")  # the case card's 补充信息 button
        await parent.wait_for_message(lambda m: "请发送要补充的" in (m.text or ""), timeout=10)
        await parent.send_text(text)
        saved = await parent.wait_for_message(lambda m: "补充信息已保存" in (m.text or ""),
                                              timeout=10)
        return saved.text or ""

    # DX01, the school's supervisor, has not bound a chat yet: nobody can be told
    assert "办理时都会看到" in await add("孩子每天写到十一点以后")
    supervisor = dudao.user(777010, "王建国")
    await dudao.bind(supervisor, "DX01")
    assert "已通知承办督学" in await add("老师还要求家长批改")
    await dudao.deliver()
    told = await supervisor.wait_for_message(lambda m: "补充" in (m.text or ""), timeout=10)
    assert reference in (told.text or "")


async def test_privacy_names_the_photo_cleaning_and_the_configured_retention(
        dudao: Dudao) -> None:
    parent = dudao.user(1014)
    await parent.send_text("/privacy")
    said = (await parent.wait_for_message(timeout=10)).text or ""
    days = dudao.container.settings.evidence.retention_days
    assert "拍摄位置" in said and f"办结 {days} 天后删除" in said and "{" not in said
