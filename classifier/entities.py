"""Find the schools, institutions and districts a tip names: exact, variant and fuzzy matches.

Scores run 0..100: an exact name or alias found in the text scores 100, a derived variant of
a name (第一小学 ↔ 一小, 初级中学 → 中学, legal suffixes dropped …) 95, and anything else
the rapidfuzz similarity of the best-matching stretch of text (below 100 by construction).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from rapidfuzz import fuzz

from classifier.text import normalise

EXACT_SCORE = 100.0
VARIANT_SCORE = 95.0
CERTAIN_SCORE = 90.0
CERTAIN_MARGIN = 10.0
MIN_FORM_LENGTH = 2  # names and aliases shorter than this are ignored
MIN_VARIANT_LENGTH = 3  # derived variants shorter than this are too ambiguous to use
MIN_FUZZY_LENGTH = 3  # fuzzy matching of two-character forms mostly finds noise
FUZZY_POOL = 40  # forms sent to rapidfuzz after the bigram prefilter
MIN_BIGRAM_COVERAGE = 0.2  # share (idf-weighted) of a form's bigrams that must occur in the text
FUZZY_FLOOR = 50.0  # fuzzy scores below this are not candidates at all
SPECIFIC_KINDS = ("school", "institution")  # more specific than the district they lie in

_NUM = "[一二三四五六七八九十百零〇0-9]+"
_DROP_CHARS = re.compile(r"[\s()\[\]<>《》〈〉「」『』【】\"'“”‘’·・,.、:;!?]")
_ADMIN_PREFIX = re.compile(r"^[\u4e00-\u9fff]{2,4}?(?:省|自治区|市|自治州|县)")
_TOWN_IN_NAME = re.compile(r"^([\u4e00-\u9fff]{2,4}?)(?:镇|乡|街道)(?=.)")
_LEGAL_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "公司")
_INSTITUTION_SUFFIXES = ("教育科技", "教育咨询", "文化传播", "教育培训中心", "教育培训学校",
                         "培训学校", "培训中心", "培训机构", "培训班", "教育中心", "学校",
                         "教育", "学堂", "课堂")
# (pattern, replacement) pairs turning official school names into what people write, and back.
_SCHOOL_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(f"第({_NUM})小学$"), r"\1小"),
    (re.compile(f"第({_NUM})(?:初级)?中学$"), r"\1中"),
    (re.compile(f"(?<!第)({_NUM})小$"), r"第\1小学"),
    (re.compile(f"(?<!第)({_NUM})中$"), r"第\1中学"),
    (re.compile("初级中学$"), "中学"),
    (re.compile("初级中学$"), "初中"),
    (re.compile("中心小学$"), "中心校"),
    (re.compile("实验小学$"), "实小"),
    (re.compile("实验中学$"), "实中"),
    (re.compile("高级中学$"), "高中"),
)


@dataclass(frozen=True)
class Entity:
    """A directory entry a tip may name."""

    kind: str  # "school" | "institution" | "district"
    code: str
    name: str
    aliases: tuple[str, ...] = ()
    district_code: str | None = None


@dataclass(frozen=True)
class Candidate:
    """An entity found in a text, how sure we are (0..100) and what text matched."""

    entity: Entity
    score: float
    matched: str


def match_key(text: str) -> str:
    """Normalise text for matching: simplified, half-width, lower case, no spaces or brackets."""
    return _DROP_CHARS.sub("", normalise(text))


def _variants(form: str, kind: str, district_names: Sequence[str]) -> set[str]:
    """Return the derived ways of writing `form` (not including `form` itself)."""
    found: set[str] = set()
    frontier = {form}
    for _round in range(3):  # rules combine (county prefix off, then 镇 off, then 第一小学 → 一小)
        fresh: set[str] = set()
        for current in frontier:
            fresh.update(_one_step_variants(current, kind, district_names))
        fresh -= found | {form}
        if not fresh:
            break
        found |= fresh
        frontier = fresh
    return {v for v in found if len(v) >= MIN_VARIANT_LENGTH}


def _one_step_variants(form: str, kind: str, district_names: Sequence[str]) -> set[str]:
    """Apply each rewriting rule once to `form`."""
    out: set[str] = set()
    for district in district_names:
        if form.startswith(district) and len(form) > len(district):
            out.add(form[len(district):])
    admin = _ADMIN_PREFIX.match(form)
    if admin and len(form) > admin.end():
        out.add(form[admin.end():])
    town = _TOWN_IN_NAME.match(form)
    if town:
        out.add(town.group(1) + form[town.end():])
    if kind == "school":
        for pattern, replacement in _SCHOOL_RULES:
            rewritten = pattern.sub(replacement, form)
            if rewritten != form:
                out.add(rewritten)
    elif kind == "institution":
        for suffix in (*_LEGAL_SUFFIXES, *_INSTITUTION_SUFFIXES):
            if form.endswith(suffix) and len(form) > len(suffix):
                out.add(form[: -len(suffix)])
    return out


def _bigrams(text: str) -> set[str]:
    """Return the character bigrams of `text`."""
    return {text[i:i + 2] for i in range(len(text) - 1)}


@dataclass(frozen=True)
class _Form:
    """One searchable way of writing an entity, with the score an exact hit earns."""

    text: str
    entity: int
    weight: float


class EntityResolver:
    """Resolve names in free text against a directory, precomputed for thousands of entities."""

    def __init__(self, entities: Iterable[Entity]) -> None:
        self.entities: list[Entity] = list(entities)
        district_names: dict[str, list[str]] = defaultdict(list)
        for entity in self.entities:
            if entity.kind == "district":
                for name in (entity.name, *entity.aliases):
                    key = match_key(name)
                    if len(key) >= MIN_FORM_LENGTH:
                        district_names[entity.code].append(key)
        forms: dict[tuple[str, int], float] = {}
        for index, entity in enumerate(self.entities):
            own = {match_key(n) for n in (entity.name, *entity.aliases)}
            own = {n for n in own if len(n) >= MIN_FORM_LENGTH}
            districts = district_names.get(entity.district_code or "", [])
            for name in own:
                forms[(name, index)] = EXACT_SCORE
                for variant in _variants(name, entity.kind, districts):
                    if forms.get((variant, index), 0.0) < VARIANT_SCORE:
                        forms[(variant, index)] = VARIANT_SCORE
        self._forms = [_Form(text, entity, weight) for (text, entity), weight in forms.items()]
        self._exact: dict[str, list[int]] = defaultdict(list)
        for i, form in enumerate(self._forms):
            self._exact[form.text].append(i)
        self._lengths = sorted({len(f.text) for f in self._forms}, reverse=True)
        self._heads = {f.text[:2] for f in self._forms}
        self._build_bigram_index()

    def _build_bigram_index(self) -> None:
        """Precompute an idf-weighted form × bigram matrix for the fuzzy prefilter."""
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for i, form in enumerate(self._forms):
            if len(form.text) < MIN_FUZZY_LENGTH:
                continue
            for gram in _bigrams(form.text):
                rows.append(i)
                cols.append(vocab.setdefault(gram, len(vocab)))
        self._vocab = vocab
        shape = (len(self._forms), max(1, len(vocab)))
        matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
        doc_freq = np.asarray((matrix > 0).sum(axis=0)).ravel()
        idf = np.log((1 + len(self._forms)) / (1 + doc_freq)) + 1.0
        weighted = matrix.multiply(idf.reshape(1, -1)).tocsr()
        totals = np.asarray(weighted.sum(axis=1)).ravel()
        totals[totals == 0] = 1.0
        # Each row sums to 1, so a text's score for a form is the idf-weighted share of the
        # form's bigrams that the text contains.
        self._bigram_matrix = sp.csc_matrix(sp.diags(1.0 / totals) @ weighted)

    def __len__(self) -> int:
        """Return the number of entities."""
        return len(self.entities)

    def _exact_hits(self, key: str) -> list[tuple[int, int, int]]:
        """Return (start, end, form index) of every form found verbatim in `key`."""
        hits: list[tuple[int, int, int]] = []
        for start in range(len(key) - 1):
            if key[start:start + 2] not in self._heads:
                continue
            for length in self._lengths:
                end = start + length
                if end > len(key):
                    continue
                for form_index in self._exact.get(key[start:end], ()):
                    hits.append((start, end, form_index))
        return hits

    @staticmethod
    def _longest_only(hits: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        """Drop hits lying inside a longer hit (一小 inside 城关一小 refers to 城关一小)."""
        kept: list[tuple[int, int, int]] = []
        for hit in sorted(hits, key=lambda h: h[0] - h[1]):
            start, end, _form = hit
            inside = any(ks <= start and end <= ke and (ke - ks) > (end - start)
                         for ks, ke, _kf in kept)
            if not inside:
                kept.append(hit)
        return kept

    def _fuzzy_pool(self, key: str, exclude: set[int]) -> list[int]:
        """Return the forms sharing the most (idf-weighted) bigrams with `key`."""
        ids = [self._vocab[g] for g in _bigrams(key) if g in self._vocab]
        if not ids:
            return []
        coverage = np.asarray(self._bigram_matrix[:, ids].sum(axis=1)).ravel()
        eligible = np.flatnonzero(coverage >= MIN_BIGRAM_COVERAGE)
        if len(eligible) > FUZZY_POOL:
            top = np.argpartition(-coverage[eligible], FUZZY_POOL)[:FUZZY_POOL]
            eligible = eligible[top]
        return [int(i) for i in eligible if int(i) not in exclude]

    def _fuzzy_score(self, form: str, key: str) -> tuple[float, str]:
        """Score how well `form` appears in `key`, returning the score and the matched text."""
        if len(form) <= len(key):
            alignment = fuzz.partial_ratio_alignment(form, key)
            if alignment is None:
                return 0.0, ""
            return alignment.score, key[alignment.dest_start:alignment.dest_end]
        return fuzz.ratio(form, key), key

    def resolve(self, text: str, limit: int = 5,
                kinds: Collection[str] | None = None) -> list[Candidate]:
        """Return up to `limit` entities named in `text`, best first (optionally only `kinds`)."""
        key = match_key(text)
        if len(key) < MIN_FORM_LENGTH or not self._forms:
            return []
        best: dict[int, tuple[float, str]] = {}

        def offer(entity: int, score: float, matched: str) -> None:
            if kinds is not None and self.entities[entity].kind not in kinds:
                return
            if score > best.get(entity, (-1.0, ""))[0]:
                best[entity] = (score, matched)

        hits = self._exact_hits(key)
        for start, end, form_index in self._longest_only(hits):
            form = self._forms[form_index]
            offer(form.entity, form.weight, key[start:end])
        found_verbatim = {form_index for _s, _e, form_index in hits}
        for form_index in self._fuzzy_pool(key, exclude=found_verbatim):
            form = self._forms[form_index]
            raw, matched = self._fuzzy_score(form.text, key)
            # A fuzzy hit on a derived variant counts a little less than one on the real name.
            score = min(raw * form.weight / EXACT_SCORE, EXACT_SCORE - 1.0)
            if score >= FUZZY_FLOOR:
                offer(form.entity, round(score, 1), matched)
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], self.entities[item[0]].code))
        return [Candidate(self.entities[index], score, matched)
                for index, (score, matched) in ranked[:limit]]


def is_certain(candidates: Sequence[Candidate], min_score: float = CERTAIN_SCORE,
               min_margin: float = CERTAIN_MARGIN) -> bool:
    """Tell whether the top candidate may be used without asking the parent to confirm.

    It must score at least `min_score` and beat the next candidate of the same kind (a
    school does not compete with an institution named in the same tip) by `min_margin`.
    """
    if not candidates or candidates[0].score < min_score:
        return False
    top = candidates[0]
    rivals = [c for c in candidates[1:] if c.entity.kind == top.entity.kind
              and c.entity.code != top.entity.code]
    return not rivals or top.score - rivals[0].score >= min_margin


PLAUSIBLE_SCORE = 75.0  # a school or institution this close is probably what the tip means
LOCATED_BONUS = 10.0  # "X在Y" / "Y的X": a near match lying in the district the tip names
MIN_CANDIDATE_SCORE = 70.0  # below this a "match" is usually a generic word (学校, 培训)


@dataclass(frozen=True)
class Resolution:
    """What a tip names: the candidates to offer (schools and institutions first) and the
    one that is certain enough to use without asking, if any."""

    candidates: tuple[Candidate, ...]
    certain: Candidate | None


def _located(candidate: Candidate, districts: Collection[str]) -> Candidate:
    """Lift a near (uncertain) match that lies in a district the same tip names."""
    if (PLAUSIBLE_SCORE <= candidate.score < CERTAIN_SCORE
            and candidate.entity.district_code in districts):
        return Candidate(candidate.entity, candidate.score + LOCATED_BONUS, candidate.matched)
    return candidate


def resolve_tip(resolver: EntityResolver, text: str, limit: int = 5,
                min_score: float = MIN_CANDIDATE_SCORE) -> Resolution:
    """Resolve a tip, preferring the most specific entity it names.

    A school or institution wins over the township or district that locates it ("智学堂在东湖
    街道", "城关镇的睿思一对一"); a near match (a typo) of a school or institution that lies in
    the district the tip also names counts as certain; a district is used only when no school
    or institution is even plausibly named (otherwise the parent is asked). Both the bot
    (directory from the database) and `dudao classify` (directory files) call this.
    """
    districts = resolver.resolve(text, limit=3, kinds=("district",))
    located = {c.entity.code for c in districts if c.score >= CERTAIN_SCORE}
    specific = sorted((_located(c, located)
                       for c in resolver.resolve(text, limit=limit + 3, kinds=SPECIFIC_KINDS)),
                      key=lambda c: (-c.score, c.entity.code))
    certain: Candidate | None = None
    if is_certain(specific):
        certain = specific[0]
    elif not any(c.score >= PLAUSIBLE_SCORE for c in specific) and is_certain(districts):
        certain = districts[0]
    places = [c for c in districts if c.score >= min_score][:1]
    # The place stays on offer (last), so the parent can still pick it.
    offered = [c for c in specific if c.score >= min_score][:limit - len(places)] + places
    if certain is not None:
        offered = [certain, *(c for c in offered if c.entity != certain.entity)]
    return Resolution(tuple(offered[:limit]), certain)


def most_specific(resolver: EntityResolver, text: str) -> Candidate | None:
    """Return the entity `text` certainly names, preferring the most specific kind (see
    `resolve_tip`)."""
    return resolve_tip(resolver, text).certain


__all__ = ["Candidate", "Entity", "EntityResolver", "Resolution", "is_certain", "match_key",
           "most_specific", "resolve_tip"]
