"""The loaded classifier: normalise, tokenise once, vectorise, predict calibrated probabilities."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifier import artifact
from classifier.labels import CATEGORIES
from classifier.runtime import CompiledModel, Doc
from classifier.text import Tokenizer, normalise, normalise_many

DEFAULT_TOP_K = 3


@dataclass(frozen=True)
class Prediction:
    """One text's predicted category, its probability and the runners-up."""

    category: str
    confidence: float
    top_k: list[tuple[str, float]]
    model_version: str


class Classifier:
    """A trained model plus its tokenizer, ready to predict."""

    def __init__(self, compiled: CompiledModel, tokenizer: Tokenizer, metadata: dict[str, Any],
                 top_k: int = DEFAULT_TOP_K, pipeline: Any = None,
                 directory: Path | None = None) -> None:
        self.compiled = compiled
        self.tokenizer = tokenizer
        self.metadata = metadata
        self.threshold: float = float(metadata.get("threshold", 1.0))
        self.model_version: str = str(metadata.get("model_version", "unknown"))
        self._top_k = max(1, min(top_k, len(CATEGORIES)))
        self._pipeline = pipeline
        self._directory = directory
        self._classes = list(compiled.classes)
        unknown = set(self._classes) - set(CATEGORIES)
        if unknown:
            raise artifact.ArtifactError(f"model has unknown labels: {sorted(unknown)}")

    @classmethod
    def from_pipeline(cls, pipeline: Any, tokenizer: Tokenizer,
                      metadata: dict[str, Any]) -> Classifier:
        """Wrap a freshly fitted pipeline (used by training before anything is saved)."""
        return cls(CompiledModel.from_pipeline(pipeline), tokenizer, metadata, pipeline=pipeline)

    @property
    def pipeline(self) -> Any:
        """Return the scikit-learn pipeline, loading model.skops safely on first use."""
        if self._pipeline is None:
            if self._directory is None:
                raise artifact.ArtifactError("this classifier has no pipeline file")
            self._pipeline = artifact.load_pipeline(self._directory)
        return self._pipeline

    @property
    def labels(self) -> list[str]:
        """Return the labels in the order of the probability columns."""
        return list(self._classes)

    def add_words(self, words: Iterable[str]) -> int:
        """Add directory names to the tokenizer; return how many were new."""
        return self.tokenizer.add_words(words)

    def _doc(self, normalised: str) -> Doc:
        """Return one text's prepared form: normalised text and its tokens (jieba runs once)."""
        return normalised, self.tokenizer.tokens(normalised)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Return the probability matrix (rows = texts, columns = `labels`)."""
        if not texts:
            return np.zeros((0, len(self._classes)))
        return self.compiled.predict_proba([self._doc(n) for n in normalise_many(texts)])

    def _prediction(self, probs: np.ndarray) -> Prediction:
        """Turn one row of probabilities into a Prediction."""
        order = np.argsort(-probs, kind="stable")[: self._top_k]
        top = [(self._classes[i], float(probs[i])) for i in order]
        return Prediction(category=top[0][0], confidence=top[0][1], top_k=top,
                          model_version=self.model_version)

    def predict(self, text: str) -> Prediction:
        """Classify one text."""
        return self._prediction(self.compiled.predict_proba_one(self._doc(normalise(text))))

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        """Classify many texts in one vectorised pass."""
        return [self._prediction(row) for row in self.probabilities(texts)]

    def prepared(self, texts: Sequence[str]) -> np.ndarray:
        """Return the scikit-learn pipeline's two-column input for `texts` (for checks)."""
        from classifier.features import prepare

        return prepare(self.tokenizer, texts)


def load(path: str | Path | None = None, top_k: int = DEFAULT_TOP_K) -> Classifier:
    """Load a model directory (None = the model shipped with dudao) and its tokenizer."""
    from classifier.versions import current_dir

    directory = artifact.resolve_dir(path)
    directory = current_dir(directory) or directory  # a versioned model path: its current one
    if not artifact.has_model(directory):
        raise artifact.ArtifactError(f"no complete model in {directory}")
    metadata = artifact.read_json(directory / artifact.METADATA_FILE)
    try:
        compiled = CompiledModel.load(directory / artifact.RUNTIME_FILE)
    except (OSError, ValueError, KeyError) as exc:
        raise artifact.ArtifactError(f"cannot read {artifact.RUNTIME_FILE}: {exc}") from exc
    tokenizer = Tokenizer.from_user_dict(directory / artifact.USER_DICT_FILE,
                                         hmm=bool(metadata.get("tokenizer", {}).get("hmm", True)))
    tokenizer.load()
    return Classifier(compiled, tokenizer, metadata, top_k=top_k, directory=directory)
