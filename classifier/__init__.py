"""Tip classifier: jieba + scikit-learn, trained by `dudao train`, loaded with `load()`.

Heavy modules (numpy, scikit-learn, jieba) are imported on first use, not on import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from classifier.labels import CATEGORIES

if TYPE_CHECKING:
    from pathlib import Path

    from classifier.predictor import Classifier, Prediction

__all__ = ["CATEGORIES", "Classifier", "Prediction", "load"]


def load(path: str | Path | None = None) -> Classifier:
    """Load a trained model directory; None loads the model shipped with dudao."""
    from classifier.predictor import load as load_model

    return load_model(path)


def __getattr__(name: str) -> Any:
    """Import Classifier and Prediction lazily."""
    if name in ("Classifier", "Prediction"):
        from classifier import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'classifier' has no attribute {name!r}")
