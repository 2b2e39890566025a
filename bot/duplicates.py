"""Duplicate detection: open tips about the same school or institution with similar text."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from bot.domain import Case
from bot.ports import UnitOfWork

# Duplicate detection (see tests/unit/test_duplicates.py for the labelled pairs the
# threshold was chosen on: 24 pairs, 12 duplicates, 12 different issues about the same entity).
DUPLICATE_THRESHOLD = 30.0
# Words every tip about a school or institution shares; they say nothing about the issue.
_GENERIC_WORDS = ("学校", "小学", "中学", "初中", "高中", "幼儿园", "培训", "机构", "中心",
                  "教育", "老师", "孩子", "家长", "学生", "我们", "他们", "每天", "现在")
_COUNTY_PREFIX = re.compile(r"^.{1,6}?[县市区]")


@dataclass(frozen=True)
class Duplicate:
    reference: str
    score: float


def normalise_for_matching(text: str, entity_names: tuple[str, ...] = ()) -> str:
    """Lower-case letters and digits only, without the entity's names and generic words."""
    text = unicodedata.normalize("NFKC", text).lower()
    for name in sorted(entity_names, key=len, reverse=True):
        if len(name) >= 2:
            text = text.replace(name.lower(), "")
    for word in _GENERIC_WORDS:
        text = text.replace(word, "")
    return "".join(ch for ch in text if ch.isalnum())


def similarity(a: str, b: str, entity_names: tuple[str, ...] = ()) -> float:
    """0..100: mean of character ratio and bigram token-set ratio of the normalised texts.

    Chinese has no spaces, so word-token ratios see one token; character bigrams stand in
    for words, and the entity's own names are removed because both tips share them anyway.
    """
    from rapidfuzz import fuzz

    na, nb = (normalise_for_matching(x, entity_names) for x in (a, b))
    if not na or not nb:
        return 0.0
    return (fuzz.ratio(na, nb) + fuzz.token_set_ratio(_bigrams(na), _bigrams(nb))) / 2


def _bigrams(text: str) -> str:
    return " ".join(text[i:i + 2] for i in range(len(text) - 1)) or text


def entity_name_variants(names: list[str]) -> tuple[str, ...]:
    """Names and aliases, plus each name without its county prefix (青溪县一小 → 一小)."""
    out: list[str] = []
    for name in names:
        out.append(name)
        short = _COUNTY_PREFIX.sub("", name)
        if short != name and len(short) >= 2:
            out.append(short)
    return tuple(dict.fromkeys(out))


async def find_duplicates(uow: UnitOfWork, case: Case, window_days: int,
                          threshold: float = DUPLICATE_THRESHOLD) -> list[Duplicate]:
    """Open cases about the same school or institution, filed within `window_days` of this
    one, whose text is similar; best match first."""
    if not (case.school_code or case.institution_code) or window_days <= 0:
        return []
    window = timedelta(days=window_days)
    open_cases = await uow.cases.open_about(
        school_code=case.school_code, institution_code=case.institution_code,
        since=case.created_at - window, until=case.created_at + window)
    names = await _entity_names(uow, case)
    found = []
    for other in open_cases:
        if other.reference == case.reference or other.reference in case.dismissed_duplicates:
            continue
        same = ((case.school_code and other.school_code == case.school_code)
                or (case.institution_code and other.institution_code == case.institution_code))
        if not same or abs(other.created_at - case.created_at) > window:
            continue
        score = similarity(case.text, other.text, names)
        if score >= threshold:
            found.append(Duplicate(other.reference, round(score, 1)))
    return sorted(found, key=lambda d: -d.score)


async def _entity_names(uow: UnitOfWork, case: Case) -> tuple[str, ...]:
    wanted = {("school", case.school_code), ("institution", case.institution_code)}
    names: list[str] = []
    for kind, code, name, aliases, _ in await uow.directory.entity_rows():
        if (kind, code) in wanted:
            names += [name, *aliases]
    return entity_name_variants(names)
