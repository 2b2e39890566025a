"""Tip intake: classify a parent's text and find the school or institution it names.

Prediction and jieba run in a worker thread so the event loop never blocks on them.
"""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass
from typing import Any, Protocol

from bot.ports import UnitOfWork


class TipClassifier(Protocol):
    @property
    def threshold(self) -> float: ...

    def predict(self, text: str) -> Any: ...

    def add_words(self, words: Any) -> None: ...


@dataclass(frozen=True)
class EntityChoice:
    kind: str  # school | institution | district
    code: str
    name: str
    district_code: str | None
    score: float


@dataclass(frozen=True)
class TipAnalysis:
    category: str
    confidence: float
    model_version: str
    alternatives: tuple[tuple[str, float], ...]
    candidates: tuple[EntityChoice, ...]
    certain: EntityChoice | None  # good enough to use without asking the parent


def normalise_text(text: str) -> str:
    """NFC, no control or zero-width characters, no blank lines: what we store.

    Full-width punctuation stays as the parent typed it; the classifier folds widths itself.
    """
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    lines = [line.strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()


# Below this a "match" is usually a generic word (学校, 培训) shared by many names.
MIN_CANDIDATE_SCORE = 70.0


class IntakeService:
    """Classifier + entity resolver over the current directory."""

    def __init__(self, classifier: TipClassifier) -> None:
        self.classifier = classifier
        self._resolver: Any = None

    @property
    def threshold(self) -> float:
        return float(self.classifier.threshold)

    async def load_directory(self, uow: UnitOfWork) -> int:
        """(Re)build the entity resolver and tokenizer words from the directory."""
        from classifier.entities import Entity

        async with uow:
            rows = await uow.directory.entity_rows()
        entities = [Entity(kind=k, code=c, name=n, aliases=a, district_code=d)
                    for k, c, n, a, d in rows]
        await asyncio.to_thread(self.use_entities, entities)
        return len(entities)

    def use_entities(self, entities: list[Any]) -> None:
        """Resolve against `entities` from now on (blocking: call it in a worker thread).

        The bot feeds it the stored directory; `dudao classify` builds the same resolver
        from the directory files."""
        from classifier.entities import EntityResolver

        words = [w for e in entities for w in (e.name, *e.aliases) if len(w) >= 2]
        resolver = EntityResolver(entities)
        self.classifier.add_words(words)
        self._resolver = resolver

    def _analyse(self, text: str) -> TipAnalysis:
        from classifier.entities import resolve_tip

        prediction = self.classifier.predict(text)
        choices: tuple[EntityChoice, ...] = ()
        certain: EntityChoice | None = None
        if self._resolver is not None:
            # The same resolution `dudao classify` uses: the most specific entity wins.
            found = resolve_tip(self._resolver, text, limit=5, min_score=MIN_CANDIDATE_SCORE)
            choices = tuple(_choice(c) for c in found.candidates)
            certain = _choice(found.certain) if found.certain is not None else None
        return TipAnalysis(category=prediction.category,
                           confidence=float(prediction.confidence),
                           model_version=prediction.model_version,
                           alternatives=tuple((c, float(p)) for c, p in prediction.top_k),
                           candidates=choices, certain=certain)

    async def analyse(self, text: str) -> TipAnalysis:
        """Classify and resolve in a worker thread."""
        return await asyncio.to_thread(self._analyse, text)

    def by_code(self, code: str) -> EntityChoice | None:
        """The school or institution with this directory code (as staff may type it)."""
        if self._resolver is None:
            return None
        for entity in self._resolver.entities:
            if entity.code == code.strip() and entity.kind in ("school", "institution"):
                return EntityChoice(entity.kind, entity.code, entity.name,
                                    entity.district_code, 100.0)
        return None

    async def search(self, name: str) -> tuple[EntityChoice, ...]:
        """Entities matching what a parent typed as the school or institution name."""
        if self._resolver is None:
            return ()
        from classifier.entities import resolve_tip

        # Schools and institutions first, the place last ("东湖街道的智学堂" → 智学堂 first).
        found = await asyncio.to_thread(resolve_tip, self._resolver, name, 5,
                                        MIN_CANDIDATE_SCORE)
        return tuple(_choice(c) for c in found.candidates)


def _choice(candidate: Any) -> EntityChoice:
    """The bot's view of a resolver candidate."""
    entity = candidate.entity
    return EntityChoice(entity.kind, entity.code, entity.name, entity.district_code,
                        float(candidate.score))
