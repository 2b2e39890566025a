"""Retraining on its own: corpus + staff corrections, a gate on a frozen set, then install.

The frozen evaluation set is the corpus's held-out split (data/corpus/heldout): training fits
only on train/ plus corrections, drops any correction equal to a held-out line, and the split
is frozen (new corpus lines go to train/ only; see data/corpus/README.md). A new model is
installed only if, on that set, compared with the model being served:

- macro-F1 does not drop;
- no category's recall drops by more than 2 points;
- precision at the new model's own auto-route threshold is at least 95 %.

Otherwise the old model stays and the failures say why (codes with numbers; the bot renders
them in Chinese for staff).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classifier import artifact, versions
from classifier.labels import CATEGORIES

MAX_RECALL_DROP = 0.02
MIN_PRECISION = 0.95

Example = tuple[str, str]


@dataclass(frozen=True)
class GateFailure:
    """Why a new model was refused: `code` and the numbers behind it."""

    code: str  # macro_f1_dropped | recall_dropped | precision_low
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scores:
    macro_f1: float
    recall: dict[str, float]
    precision_at_threshold: float
    auto_routed_share: float


@dataclass(frozen=True)
class GateResult:
    new: Scores
    old: Scores | None
    failures: tuple[GateFailure, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class RetrainOutcome:
    """What one retraining did: installed (and which version) or kept the old model."""

    installed: bool
    version: str
    old_version: str | None
    corrections: int
    gate: GateResult


def score(model: Any, examples: Sequence[Example]) -> Scores:
    """Macro-F1, per-category recall and precision/share at the model's threshold."""
    from sklearn.metrics import f1_score, recall_score

    texts = [text for text, _label in examples]
    truth = [label for _text, label in examples]
    predictions = model.predict_many(texts)
    predicted = [p.category for p in predictions]
    confidence = np.asarray([p.confidence for p in predictions])
    labels = [c for c in CATEGORIES if c in set(truth)]
    recalls = recall_score(truth, predicted, labels=labels, average=None, zero_division=0.0)
    admitted = confidence >= float(model.threshold)
    right = np.asarray(predicted) == np.asarray(truth)
    precision = float(right[admitted].mean()) if admitted.any() else 1.0
    return Scores(macro_f1=float(f1_score(truth, predicted, labels=labels, average="macro",
                                          zero_division=0.0)),
                  recall={label: float(r) for label, r in zip(labels, recalls, strict=True)},
                  precision_at_threshold=precision,
                  auto_routed_share=float(admitted.mean()) if len(admitted) else 0.0)


def gate(new: Any, old: Any | None, frozen: Sequence[Example]) -> GateResult:
    """Compare `new` with `old` (None: nothing served yet) on the frozen set."""
    new_scores = score(new, frozen)
    old_scores = score(old, frozen) if old is not None else None
    failures: list[GateFailure] = []
    if old_scores is not None:
        if new_scores.macro_f1 < old_scores.macro_f1:
            failures.append(GateFailure("macro_f1_dropped", {
                "old": round(old_scores.macro_f1, 4), "new": round(new_scores.macro_f1, 4)}))
        for label, before in old_scores.recall.items():
            after = new_scores.recall.get(label, 0.0)
            if before - after > MAX_RECALL_DROP + 1e-9:
                failures.append(GateFailure("recall_dropped", {
                    "label": label, "old": round(before, 4), "new": round(after, 4)}))
    if new_scores.precision_at_threshold < MIN_PRECISION:
        failures.append(GateFailure("precision_low", {
            "precision": round(new_scores.precision_at_threshold, 4),
            "threshold": round(float(new.threshold), 4), "target": MIN_PRECISION}))
    return GateResult(new_scores, old_scores, tuple(failures))


def retrain(corpus_dir: Path, model_path: Path, corrections: Sequence[Example], *,
            search: bool = False, keep: int = versions.DEFAULT_KEEP,
            n_jobs: int = 1, fallback: Path | None = None,
            config: Any = None) -> RetrainOutcome:
    """Train from the corpus plus `corrections`, gate against the current model, install.

    Blocking (seconds to minutes): the bot runs it in a worker thread. The model compared
    against is the current version under `model_path`, else `fallback` (the shipped model).
    """
    from classifier.predictor import Classifier, load
    from classifier.training import DEFAULT_CONFIG, read_corpus, train

    corpus = read_corpus(corpus_dir)
    result = train(corpus, list(corrections), search=search, n_jobs=n_jobs,
                   config=config or DEFAULT_CONFIG)
    new = Classifier(result.compiled, result.tokenizer, result.metadata,
                     pipeline=result.pipeline)
    current = versions.current_dir(model_path)
    if current is None and fallback is not None and artifact.has_model(fallback):
        current = fallback
    old = load(current) if current is not None else None
    verdict = gate(new, old, corpus.heldout)
    result.rename(versions.unused_name(model_path, result.version))
    version = result.version
    old_version = old.model_version if old is not None else None
    if not verdict.passed:
        return RetrainOutcome(False, version, old_version, len(corrections), verdict)

    def save(directory: Path) -> None:
        artifact.save_artifact(directory, result.pipeline, result.compiled.save,
                               result.tokenizer.write_user_dict,
                               result.metadata | {"gate": _gate_json(verdict)},
                               result.artifact_report)

    versions.install(model_path, version, save, keep=keep)
    return RetrainOutcome(True, version, old_version, len(corrections), verdict)


def _gate_json(verdict: GateResult) -> dict[str, Any]:
    """The gate's numbers, kept in the installed version's metadata."""
    def scores(s: Scores | None) -> dict[str, Any] | None:
        if s is None:
            return None
        return {"macro_f1": round(s.macro_f1, 4),
                "recall": {k: round(v, 4) for k, v in s.recall.items()},
                "precision_at_threshold": round(s.precision_at_threshold, 4),
                "auto_routed_share": round(s.auto_routed_share, 4)}

    return {"frozen_set": "data/corpus/heldout", "new": scores(verdict.new),
            "old": scores(verdict.old)}


__all__ = ["GateFailure", "GateResult", "RetrainOutcome", "Scores", "gate", "retrain", "score"]
