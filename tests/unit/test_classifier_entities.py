"""Entity resolution: exact names and aliases, longest match, variants, typos, certainty."""

from __future__ import annotations

import random

import pytest

from classifier.entities import Candidate, Entity, EntityResolver, is_certain

DIRECTORY = (
    Entity("district", "D1", "城关镇"),
    Entity("district", "D2", "河西乡"),
    Entity("school", "S1", "城关镇第一小学", ("城关一小",), "D1"),
    Entity("school", "S2", "城南第一小学", ("一小",), "D1"),
    Entity("school", "S3", "育才初级中学", (), "D2"),
    Entity("school", "S4", "河西中心小学", (), "D2"),
    Entity("school", "S5", "桂花路小学", ("桂花小学",), "D1"),
    Entity("institution", "I1", "学而思教育培训学校有限公司", ("学而思",)),
    Entity("institution", "I2", "博雅文化艺术培训中心", ()),
)


@pytest.fixture(scope="module")
def resolver() -> EntityResolver:
    return EntityResolver(DIRECTORY)


def codes(candidates: list[Candidate]) -> list[str]:
    return [c.entity.code for c in candidates]


def test_exact_name_scores_100(resolver: EntityResolver) -> None:
    top = resolver.resolve("育才初级中学的作业太多了")[0]
    assert (top.entity.code, top.score, top.matched) == ("S3", 100.0, "育才初级中学")


def test_alias_scores_100(resolver: EntityResolver) -> None:
    top = resolver.resolve("学而思跑路了，钱没退")[0]
    assert (top.entity.code, top.score) == ("I1", 100.0)


def test_longest_match_wins(resolver: EntityResolver) -> None:
    # 一小 is S2's alias, but here it is part of 城关一小 (S1's alias).
    found = resolver.resolve("城关一小的老师在家补课")
    assert found[0].entity.code == "S1" and found[0].score == 100.0
    assert all(c.score < 90 for c in found[1:])
    assert is_certain(found)


def test_short_alias_alone_still_found(resolver: EntityResolver) -> None:
    assert resolver.resolve("一小的课后服务强制参加")[0].entity.code == "S2"


def test_written_out_number_matches_short_name(resolver: EntityResolver) -> None:
    # 城关第一小学: the parent drops 镇 from the official name 城关镇第一小学.
    found = resolver.resolve("城关第一小学作业太多")
    assert found[0].entity.code == "S1" and found[0].score >= 90
    assert is_certain(found)


def test_common_name_matches_official_name(resolver: EntityResolver) -> None:
    found = resolver.resolve("孩子在育才中学上初二")  # official: 育才初级中学
    assert found[0].entity.code == "S3" and found[0].score >= 90


def test_institution_without_legal_suffix(resolver: EntityResolver) -> None:
    assert resolver.resolve("博雅文化艺术周末上数学课")[0].entity.code == "I2"


def test_one_wrong_character_is_found_but_not_certain(resolver: EntityResolver) -> None:
    found = resolver.resolve("育材初级中学乱收费")
    assert found[0].entity.code == "S3"
    assert 70 <= found[0].score < 100
    found = resolver.resolve("桂化路小学课后服务收费")
    assert found[0].entity.code == "S5" and found[0].score < 100


def test_traditional_and_full_width_text(resolver: EntityResolver) -> None:
    assert resolver.resolve("育才初級中學　作業太多")[0].entity.code == "S3"


def test_nothing_found_in_unrelated_text(resolver: EntityResolver) -> None:
    assert resolver.resolve("今天天气很好，孩子很开心") == []
    assert resolver.resolve("") == []


def test_kinds_filter_and_limit(resolver: EntityResolver) -> None:
    text = "城关一小的王老师让孩子去学而思补课"
    assert codes(resolver.resolve(text, kinds={"institution"}))[:1] == ["I1"]
    assert codes(resolver.resolve(text, kinds={"school"}))[:1] == ["S1"]
    assert len(resolver.resolve(text, limit=1)) == 1


def test_results_are_best_first(resolver: EntityResolver) -> None:
    found = resolver.resolve("城关第一小学和城南第一小学都有问题")
    scores = [c.score for c in found]
    assert scores == sorted(scores, reverse=True)
    assert len(set(codes(found))) == len(found)


def test_two_schools_named_is_not_certain(resolver: EntityResolver) -> None:
    assert not is_certain(resolver.resolve("城关一小和桂花路小学都强制课后服务",
                                           kinds={"school"}))


def test_is_certain_rules() -> None:
    a, b, c = DIRECTORY[2], DIRECTORY[3], DIRECTORY[7]
    assert not is_certain([])
    assert not is_certain([Candidate(a, 85.0, "x")])
    assert is_certain([Candidate(a, 95.0, "x")])
    assert not is_certain([Candidate(a, 100.0, "x"), Candidate(b, 95.0, "y")])
    assert is_certain([Candidate(a, 100.0, "x"), Candidate(b, 80.0, "y")])
    # An institution does not compete with a school.
    assert is_certain([Candidate(a, 100.0, "x"), Candidate(c, 100.0, "z")])


def test_ten_thousand_entities_resolve_correctly() -> None:
    rng = random.Random(5)
    syllables = "东南西北新华民主和平建设红星光明向阳朝阳胜利人民解放长安文化青山河湖桥湾岭峰"
    names: set[str] = set()
    while len(names) < 10_000:
        place = "".join(rng.sample(syllables, 3))
        names.add(place + rng.choice(["小学", "中学", "中心小学", "实验学校", "培训中心"]))
    entities = [Entity("school", f"S{i}", name) for i, name in enumerate(sorted(names))]
    resolver = EntityResolver(entities)
    for entity in rng.sample(entities, 50):
        found = resolver.resolve(f"家长反映{entity.name}的老师周末有偿补课")
        assert found[0].entity == entity and found[0].score == 100.0
