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
    threshold: float

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
        from classifier.entities import Entity, EntityResolver

        async with uow:
            rows = await uow.directory.entity_rows()
        entities = [Entity(kind=k, code=c, name=n, aliases=a, district_code=d)
                    for k, c, n, a, d in rows]
        words = [w for e in entities for w in (e.name, *e.aliases) if len(w) >= 2]
        resolver = await asyncio.to_thread(EntityResolver, entities)
        await asyncio.to_thread(self.classifier.add_words, words)
        self._resolver = resolver
        return len(entities)

    def _analyse(self, text: str) -> TipAnalysis:
        from classifier.entities import is_certain

        prediction = self.classifier.predict(text)
        candidates = self._resolver.resolve(text, limit=5) if self._resolver else []
        candidates = [c for c in candidates if c.score >= MIN_CANDIDATE_SCORE]
        choices = tuple(
            EntityChoice(c.entity.kind, c.entity.code, c.entity.name, c.entity.district_code,
                         float(c.score)) for c in candidates)
        certain = choices[0] if candidates and is_certain(candidates) else None
        return TipAnalysis(category=prediction.category,
                           confidence=float(prediction.confidence),
                           model_version=prediction.model_version,
                           alternatives=tuple((c, float(p)) for c, p in prediction.top_k),
                           candidates=choices, certain=certain)

    async def analyse(self, text: str) -> TipAnalysis:
        """Classify and resolve in a worker thread."""
        return await asyncio.to_thread(self._analyse, text)

    async def search(self, name: str) -> tuple[EntityChoice, ...]:
        """Entities matching what a parent typed as the school or institution name."""
        if self._resolver is None:
            return ()
        candidates = await asyncio.to_thread(self._resolver.resolve, name, 5)
        return tuple(EntityChoice(c.entity.kind, c.entity.code, c.entity.name,
                                  c.entity.district_code, float(c.score)) for c in candidates
                     if c.score >= MIN_CANDIDATE_SCORE)
