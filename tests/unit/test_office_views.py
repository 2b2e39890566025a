"""Staff views: long cases fit Telegram's limits, user text is escaped, buttons match status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain import Actor, Case, Disposition, Role, Status
from bot.duplicates import Duplicate
from bot.office import StaffCase, filed_guess
from bot.triage import SupervisorChoice
from handlers.telegram import views_office as views

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
STAFF = Actor(Role.STAFF, person_code="ST1")
SUP = Actor(Role.SUPERVISOR, person_code="S01")


def new_case(text: str = "作业太多<b>粗体</b>&amp;", confidence: float = 0.3) -> Case:
    case = Case.file(reference="SJ-2026-000001", text=text, category="other",
                     confidence=confidence,
                     reporter_user_id=1, now=NOW, anonymous=False, reporter_name="王<芳>",
                     reporter_phone="13912345678", school_code="SCH01")
    case.status = Status.TRIAGE
    return case


def detail(case: Case) -> StaffCase:
    return StaffCase(case=case, entity_name="城关<一小>", district_name="城关镇",
                     assignee_name=None, people={"ST1": "陈老师", "S01": "王督学"},
                     duplicates=[Duplicate("SJ-2026-000002", 61.2)], evidence_count=2,
                     guess=filed_guess(case))


def data_of(markup: object) -> list[str]:
    return [b.callback_data for row in markup.inline_keyboard for b in row]  # type: ignore[attr-defined]


def test_confidence_just_under_the_threshold_is_not_shown_as_reaching_it() -> None:
    case = new_case(confidence=0.8695)  # under a 0.87 threshold: the tip went to triage
    parts, _ = views.case_card(detail(case), TZ, with_history=False, today=date(2026, 11, 23))
    assert "置信度 86%" in "\n".join(parts)


def test_card_escapes_user_text_and_shows_identity_and_duplicates() -> None:
    parts, markup = views.case_card(detail(new_case()), TZ, with_history=True,
                                    today=date(2026, 11, 23))
    text = "\n".join(parts)
    assert "&lt;b&gt;粗体&lt;/b&gt;&amp;amp;" in text and "<b>粗体" not in text
    assert "王&lt;芳&gt;" in text and "13912345678" in text and "城关&lt;一小&gt;" in text
    assert "可能重复：SJ-2026-000002（61）" in text and "置信度 30%" in text
    assert data_of(markup)[:6] == [f"o:tc:SJ-2026-000001:{i}" for i in range(6)]


def test_long_text_and_history_split_under_the_limit() -> None:
    case = new_case("很长的线索" * 900)  # 4,500 characters, more than one message
    case.assign(STAFF, "S01", NOW)
    for day in range(150):
        case.supervise(STAFF, NOW + timedelta(days=day), "请尽快处理" * 10)
    parts, markup = views.case_card(detail(case), TZ, with_history=True,
                                    today=date(2026, 11, 23))
    assert len(parts) >= 3 and all(len(p) <= 4096 for p in parts)
    joined = "".join(parts)
    assert joined.count("督办") >= 150 and markup is not None


def test_buttons_follow_the_status() -> None:
    case = new_case()
    case.assign(STAFF, "S01", NOW)
    assert data_of(views.actions(case))[:2] == ["o:tri:SJ-2026-000001", "o:sup:SJ-2026-000001"]
    case.accept(SUP, NOW)
    case.propose(SUP, Disposition.RECTIFY, NOW, deadline=date(2026, 12, 8))
    assert "o:apv:SJ-2026-000001" in data_of(views.actions(case))
    case.approve_proposal(STAFF, NOW)
    case.request_extension(SUP, date(2026, 12, 20), "需要时间", NOW)
    assert {"o:xok:SJ-2026-000001", "o:xno:SJ-2026-000001"} <= set(data_of(views.actions(case)))
    case.refuse_extension(STAFF, "不行", NOW)
    case.report_rectified(SUP, "好了", NOW)
    assert data_of(views.actions(case))[:2] == ["o:vok:SJ-2026-000001", "o:vno:SJ-2026-000001"]


def test_supervisor_keyboard_pages_and_keeps_callback_data_short() -> None:
    choices = [SupervisorChoice(f"DX{i:02d}", f"督学{i}", "responsible", i == 0)
               for i in range(20)]
    first = views.supervisor_keyboard("SJ-2026-000001", 0, choices, 0)
    assert first is not None
    labels = [b.text for row in first.inline_keyboard for b in row]
    assert labels[0].startswith("★") and "下一页" in labels and "上一页" not in labels
    last = views.supervisor_keyboard("SJ-2026-000001", 0, choices, 99)  # clamped
    assert last is not None and "上一页" in [b.text for r in last.inline_keyboard for b in r]
    long_code = [SupervisorChoice("X" * 60, "某督学", "tutoring", False)]
    dropped = views.supervisor_keyboard("SJ-2026-000001", 0, long_code, 0)
    assert dropped is not None
    assert all(len(d.encode()) <= 64 for d in data_of(dropped))


def test_splitting_never_cuts_an_html_entity() -> None:
    import re

    for shift in range(13):  # every alignment of the 13-character escaped cycle
        parts, _ = views.case_card(detail(new_case("甲" * shift + "&<>" * 2000)), TZ,
                                   with_history=False, today=date(2026, 11, 23))
        for part in parts:
            assert not re.search(r"&[a-z]*$", part) and not re.match(r"^[a-z]+;", part)
