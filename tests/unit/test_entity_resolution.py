"""The most specific entity a tip names wins, for the bot and for `dudao classify` alike,
resolved against the sample directory in data/directory."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from bot.cli_classifier import directory_entities
from bot.config import load_settings
from bot.intake import IntakeService
from classifier.entities import EntityResolver, most_specific, resolve_tip

# (tip, the institution it names): the two examples first, then institutions named
# together with the township or street that locates them, as "X在Y", "Y的X", "Y X", with
# aliases, official names, names without legal suffixes and one typo.
INSTITUTION_AND_PLACE = [
    ("青溪县智学堂课外辅导在东湖街道一个小区里开班，每周六上数学", "QX-J018"),
    ("睿思一对一在城关镇租了民房，晚上给初中生上课", "QX-J019"),
    ("东湖街道的智学堂周末偷偷上课", "QX-J018"),
    ("城关镇的睿思一对一还在上课", "QX-J019"),
    ("启明星在城关镇新开了一个点，报名费交了不退", "QX-J001"),
    ("河西街道的博思源教育暑假上超前课", "QX-J002"),
    ("英才英语在东湖街道那边退费拖了三个月", "QX-J003"),
    ("城关镇青藤艺术偷偷教数学", "QX-J004"),
    ("河西街道飞羽体育预收了一年的费用", "QX-J005"),
    ("东湖街道星火编程培训中心跑路了", "QX-J006"),
    ("石门镇的墨韵书法周末补语文", "QX-J008"),
    ("跃龙游泳在石门镇收了两年的钱", "QX-J009"),
    ("柳塘镇的舞之韵舞蹈培训中心关门了", "QX-J010"),
    ("七彩美术在柳塘镇上文化课", "QX-J011"),
    ("城关镇的灵犀围棋也在教奥数", "QX-J012"),
    ("白沙乡弘毅武术培训中心不退钱", "QX-J013"),
    ("小树苗托管在城关镇给孩子上新课", "QX-J014"),
    ("白沙乡的晨曦托管辅导作业还讲新课", "QX-J015"),
    ("阳光午托班在石门镇一个居民楼里上英语", "QX-J016"),
    ("春苗托管在白沙乡没有办证", "QX-J017"),
    ("优倍在线网校城关镇线下班收费太高", "QX-J020"),
    ("柳塘镇尚学教育咨询有限公司搞一对一", "QX-J022"),
    ("河西街道知行自习室其实在补课", "QX-J023"),
    ("河西街道好家长家政派老师上门全科辅导", "QX-J024"),
    ("东湖街道鲲鹏研学周末研学其实是上课", "QX-J025"),
    ("智学堂在东湖街道，周末上课", "QX-J018"),
    ("启明星文化在城关镇收费", "QX-J001"),
    ("睿恩一对一在城关镇租民房补课", "QX-J019"),  # a typo, located by the township
]


@pytest.fixture(scope="module")
def resolver() -> EntityResolver:
    return EntityResolver(directory_entities(load_settings(None)))


@pytest.mark.parametrize(("text", "code"), INSTITUTION_AND_PLACE)
def test_institution_wins_over_the_place_that_locates_it(resolver: EntityResolver, text: str,
                                                         code: str) -> None:
    found = resolve_tip(resolver, text)
    assert found.certain is not None
    assert (found.certain.entity.kind, found.certain.entity.code) == ("institution", code)
    assert found.candidates[0] == found.certain
    assert most_specific(resolver, text) == found.certain


def test_the_place_is_offered_as_a_runner_up(resolver: EntityResolver) -> None:
    found = resolve_tip(resolver, INSTITUTION_AND_PLACE[0][0])
    codes = [c.entity.code for c in found.candidates]
    assert codes[0] == "QX-J018" and codes[-1] == "QX-DH"


def test_a_school_wins_over_its_township(resolver: EntityResolver) -> None:
    found = resolve_tip(resolver, "石门镇的龙潭小学周末给学生补课收费")
    assert found.certain is not None and found.certain.entity.code == "QX-S028"


def test_a_district_alone_is_used(resolver: EntityResolver) -> None:
    found = resolve_tip(resolver, "东湖街道有个小区里有人办补习班")
    assert found.certain is not None and found.certain.entity.code == "QX-DH"


def test_a_far_typo_of_an_institution_outside_the_place_asks(resolver: EntityResolver) -> None:
    # 智学堂 is in 东湖街道, not 城关镇: nothing corroborates the typo, so the parent is asked
    # (the institution is offered first) rather than the township being used silently.
    found = resolve_tip(resolver, "只学堂课外辅导在城关镇上课")
    assert found.certain is None
    assert found.candidates[0].entity.code == "QX-J018"


def test_two_institutions_are_not_certain(resolver: EntityResolver) -> None:
    found = resolve_tip(resolver, "启明星和青藤艺术都在城关镇上课")
    assert found.certain is None
    assert {c.entity.code for c in found.candidates[:2]} == {"QX-J001", "QX-J004"}


@dataclass
class _Prediction:
    category: str = "unlicensed_tutoring"
    confidence: float = 0.9
    model_version: str = "test"
    top_k: tuple[tuple[str, float], ...] = (("unlicensed_tutoring", 0.9), ("other", 0.1))


class _Classifier:
    threshold = 0.5

    def predict(self, text: str) -> Any:
        return _Prediction()

    def add_words(self, words: Any) -> None:
        list(words)


@pytest.mark.parametrize(("text", "code"), INSTITUTION_AND_PLACE[:2])
def test_the_bot_resolves_like_classify(text: str, code: str) -> None:
    intake = IntakeService(_Classifier())
    intake.use_entities(directory_entities(load_settings(None)))
    analysis = asyncio.run(intake.analyse(text))
    assert analysis.certain is not None and analysis.certain.code == code
    assert analysis.candidates[0].code == code
    assert analysis.candidates[-1].kind == "district"


def test_a_typed_name_lists_the_institution_before_its_place() -> None:
    intake = IntakeService(_Classifier())
    intake.use_entities(directory_entities(load_settings(None)))
    found = asyncio.run(intake.search("东湖街道的智学堂"))
    assert [c.code for c in found][:1] == ["QX-J018"] and found[-1].code == "QX-DH"
    assert intake.by_code("QX-J018") is not None and intake.by_code("QX-DH") is None
