"""Classify JSON Lines in batches: parse each line, predict, name the entity the tip names."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from classifier.entities import Entity, EntityResolver, most_specific

if TYPE_CHECKING:
    from classifier.predictor import Classifier, Prediction

DEFAULT_BATCH = 256


class LineError(StrEnum):
    """Why an input line could not be classified."""

    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    TEXT_NOT_STRING = "text_not_string"
    MISSING_TEXT = "missing_text"


@dataclass(frozen=True)
class BadLine:
    """An input line (numbered from 1) that was not classified, and why."""

    id: Any
    line: int
    error: LineError


@dataclass(frozen=True)
class Classified:
    """A classified tip: its id, the prediction and the entity it names (or None)."""

    id: Any
    prediction: Prediction
    entity: Entity | None


LineResult = Classified | BadLine


def parse_line(line: str) -> tuple[Any, str | None, LineError | None]:
    """Parse one input line into (id, text, error); exactly one of text/error is set."""
    try:
        data = json.loads(line)
    except ValueError:
        return None, None, LineError.NOT_JSON
    if not isinstance(data, dict):
        return None, None, LineError.NOT_OBJECT
    ident = data.get("id")
    text = data.get("text")
    if text is not None and not isinstance(text, str):
        return ident, None, LineError.TEXT_NOT_STRING
    if text is None or not text.strip():
        return ident, None, LineError.MISSING_TEXT
    return ident, text, None


def classify_lines(model: Classifier, lines: Iterable[str],
                   resolver: EntityResolver | None = None,
                   batch_size: int = DEFAULT_BATCH) -> Iterator[list[LineResult]]:
    """Yield the results of `lines`, in order, one list per batch of `batch_size` lines.

    Predictions are made a batch at a time (much faster than one by one); a caller streaming
    to a pipe writes and flushes each batch as it comes.
    """
    batch_size = max(1, batch_size)
    # Each pending entry is either a finished BadLine or (id, text) awaiting prediction.
    pending: list[BadLine | tuple[Any, str]] = []

    def finish() -> list[LineResult]:
        texts = [entry[1] for entry in pending if isinstance(entry, tuple)]
        predictions = iter(model.predict_many(texts))
        results: list[LineResult] = []
        for entry in pending:
            if isinstance(entry, BadLine):
                results.append(entry)
                continue
            found = most_specific(resolver, entry[1]) if resolver is not None else None
            results.append(Classified(entry[0], next(predictions),
                                      found.entity if found is not None else None))
        pending.clear()
        return results

    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue  # a blank line (a trailing newline, a paragraph break) is no record
        ident, text, error = parse_line(raw)
        if error is not None:
            pending.append(BadLine(ident, number, error))
        else:
            assert text is not None
            pending.append((ident, text))
        if len(pending) >= batch_size:
            yield finish()
    if pending:
        yield finish()


__all__ = ["DEFAULT_BATCH", "BadLine", "Classified", "LineError", "LineResult",
           "classify_lines", "parse_line"]
