"""Feature extraction and the scikit-learn pipeline (built here, trained in training.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from classifier.text import Tokenizer, normalise_many

# Column layout of the prepared input: the normalised text (for character n-grams) and its
# space-joined jieba tokens (for word n-grams). Tokenising once here keeps jieba, the
# bottleneck, out of the vectorizers and lets the pipeline persist without custom code.
CHAR_COLUMN = 0
WORD_COLUMN = 1
WORD_TOKEN_PATTERN = r"[^ ]+"

ModelKind = Literal["logreg", "svm"]
Calibration = Literal["sigmoid", "none"]  # what runtime.CompiledModel can reproduce


@dataclass(frozen=True)
class PipelineConfig:
    """The choices evaluation decides between (everything else is fixed)."""

    model: ModelKind = "logreg"
    c: float = 10.0
    calibration: Calibration = "none"
    char_ngrams: tuple[int, int] = (1, 3)
    word_ngrams: tuple[int, int] = (1, 2)
    use_chars: bool = True
    use_words: bool = True
    min_df: int = 1
    sublinear_tf: bool = True

    def describe(self) -> dict[str, Any]:
        """Return the configuration as plain JSON-ready data."""
        return asdict(self)


def prepare(tokenizer: Tokenizer, texts: Sequence[str]) -> np.ndarray:
    """Turn raw texts into the pipeline's two-column input (normalised text, joined tokens)."""
    normalised = normalise_many(texts)
    rows = np.empty((len(normalised), 2), dtype=object)
    for i, norm in enumerate(normalised):
        rows[i, CHAR_COLUMN] = norm
        rows[i, WORD_COLUMN] = " ".join(tokenizer.tokens(norm))
    return rows


def _vectorizer(analyzer: Literal["char", "word"], ngrams: tuple[int, int], min_df: int,
                sublinear_tf: bool) -> TfidfVectorizer:
    """Build a tf-idf vectorizer over already normalised input."""
    return TfidfVectorizer(
        input="content",
        encoding="utf-8",
        decode_error="strict",
        strip_accents=None,
        lowercase=False,  # normalise() already lower-cased
        preprocessor=None,
        tokenizer=None,
        analyzer=analyzer,
        stop_words=None,  # stop words were removed by the tokenizer
        token_pattern=WORD_TOKEN_PATTERN if analyzer == "word" else None,
        ngram_range=ngrams,
        max_df=1.0,
        min_df=min_df,
        max_features=None,
        vocabulary=None,
        binary=False,
        dtype=np.float64,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=sublinear_tf,
    )


def _linear_model(config: PipelineConfig, seed: int) -> LogisticRegression | LinearSVC:
    """Build the linear classifier the configuration names."""
    if config.model == "logreg":
        return LogisticRegression(
            C=config.c,
            l1_ratio=0.0,
            dual=False,
            tol=1e-4,
            fit_intercept=True,
            intercept_scaling=1,
            class_weight="balanced",
            random_state=seed,
            solver="lbfgs",
            max_iter=2000,
            verbose=0,
            warm_start=False,
            n_jobs=None,
        )
    return LinearSVC(
        penalty="l2",
        loss="squared_hinge",
        dual="auto",
        tol=1e-4,
        C=config.c,
        multi_class="ovr",
        fit_intercept=True,
        intercept_scaling=1,
        class_weight="balanced",
        verbose=0,
        random_state=seed,
        max_iter=5000,
    )


def build_pipeline(config: PipelineConfig, seed: int = 0) -> Pipeline:
    """Build the untrained pipeline for `config`."""
    transformers: list[tuple[str, TfidfVectorizer, int]] = []
    if config.use_chars:
        transformers.append(("chars", _vectorizer("char", config.char_ngrams, config.min_df,
                                                  config.sublinear_tf), CHAR_COLUMN))
    if config.use_words:
        transformers.append(("words", _vectorizer("word", config.word_ngrams, config.min_df,
                                                  config.sublinear_tf), WORD_COLUMN))
    if not transformers:
        raise ValueError("at least one of use_chars / use_words must be true")
    features = ColumnTransformer(
        transformers,
        remainder="drop",
        sparse_threshold=1.0,  # always keep the stacked features sparse
        n_jobs=None,
        transformer_weights=None,
        verbose=False,
        verbose_feature_names_out=True,
    )
    linear = _linear_model(config, seed)
    model: Any
    if config.calibration == "none":
        if config.model != "logreg":
            raise ValueError("an SVM needs calibration to give probabilities")
        model = linear
    else:
        model = CalibratedClassifierCV(
            estimator=linear,
            method=config.calibration,
            cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=seed),
            n_jobs=None,
            ensemble=False,  # one model on all data, calibrated on out-of-fold scores: 1x size
        )
    return Pipeline([("features", features), ("model", model)], transform_input=None,
                    memory=None, verbose=False)
