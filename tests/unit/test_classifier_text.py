"""Normalisation and the domain-aware tokenizer."""

from __future__ import annotations

import pytest

from classifier.text import Tokenizer, domain_words, normalise, normalise_many


def test_traditional_becomes_simplified() -> None:
    assert normalise("學校補課費用太貴") == "学校补课费用太贵"


def test_full_width_becomes_half_width_and_lower_case() -> None:
    assert normalise("ＡＢＣ　１２３，ｘ") == "abc 123,x"


def test_whitespace_collapses_and_newlines_disappear() -> None:
    assert normalise("  作业\n\n太多 \t 了 ") == "作业 太多 了"


def test_normalise_many_matches_normalise_one_by_one() -> None:
    texts = ["機構跑路了", "第一行\n第二行", "", "ＯＫ"]
    assert normalise_many(texts) == [normalise(text) for text in texts]


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    tok = Tokenizer.with_domain_dictionary(["城关镇第一小学"])
    tok.load()
    return tok


def test_domain_words_come_out_whole(tokenizer: Tokenizer) -> None:
    assert {"双减", "课后服务", "有偿补课", "学科类培训", "预收费", "跑路"} <= set(domain_words())
    tokens = tokenizer.tokenize("双减以后机构还在搞学科类培训，预收费不退，老板跑路了")
    for word in ("双减", "学科类培训", "预收费", "跑路"):
        assert word in tokens


def test_directory_name_given_at_construction_is_one_token(tokenizer: Tokenizer) -> None:
    assert "城关镇第一小学" in tokenizer.tokenize("城关镇第一小学的老师有偿补课")


def test_directory_name_added_after_load_is_one_token() -> None:
    tok = Tokenizer.with_domain_dictionary()
    text = "孩子在瀚林博雅学堂上课"
    assert "瀚林博雅学堂" not in tok.tokenize(text)
    assert tok.add_words(["瀚林博雅学堂", "瀚林博雅学堂"]) == 1
    assert "瀚林博雅学堂" in tok.tokenize(text)


def test_traditional_name_is_found_in_traditional_text() -> None:
    tok = Tokenizer.with_domain_dictionary(["育才實驗學校"])
    assert "育才实验学校" in tok.tokenize("育才實驗學校課後服務強制收費")


def test_private_tokenizer_leaves_global_jieba_alone() -> None:
    import jieba

    tok = Tokenizer.with_domain_dictionary(["瀚林博雅学堂"])
    tok.load()
    assert "瀚林博雅学堂" not in jieba.lcut("孩子在瀚林博雅学堂上课")


def test_stop_words_and_punctuation_are_dropped_but_negation_kept(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.tokenize("我们的作业，老师没有批改！！")
    assert "的" not in tokens and "我们" not in tokens and "，" not in tokens
    assert "!" not in tokens
    assert "没有" in tokens


def test_user_dictionary_round_trip(tmp_path, tokenizer: Tokenizer) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "userdict.txt"
    tokenizer.write_user_dict(path)
    again = Tokenizer.from_user_dict(path)
    assert again.user_words == tokenizer.user_words
    text = "城关镇第一小学课后服务强制参加"
    assert again.tokenize(text) == tokenizer.tokenize(text)
