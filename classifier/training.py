"""Train, cross-validate, evaluate on the held-out split, choose the threshold, save."""

from __future__ import annotations

import hashlib
import itertools
import platform
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from classifier import artifact
from classifier.features import PipelineConfig, build_pipeline, prepare
from classifier.labels import CATEGORIES
from classifier.runtime import CompiledModel
from classifier.text import Tokenizer, normalise

Example = tuple[str, str]  # (text, label)

TARGET_PRECISION = 0.95
MIN_WINDOW = 30  # smallest set of least-confident predictions checked by choose_threshold
QUALITY_MACRO_F1 = 0.90
QUALITY_MIN_RECALL = 0.85
CV_FOLDS = 5
SEED = 20260101
MAX_ERRORS_IN_REPORT = 60

# The configurations cross-validation chooses between: feature sets (characters, words,
# both) and regularisation strength for the two linear models.
SEARCH_SPACE: tuple[PipelineConfig, ...] = (
    PipelineConfig(model="logreg", c=10.0, use_words=False),
    PipelineConfig(model="logreg", c=10.0, use_chars=False),
    PipelineConfig(model="logreg", c=3.0),
    PipelineConfig(model="logreg", c=10.0),
    PipelineConfig(model="logreg", c=30.0),
    PipelineConfig(model="logreg", c=100.0),
    PipelineConfig(model="logreg", c=30.0, char_ngrams=(1, 4)),
    PipelineConfig(model="logreg", c=30.0, min_df=2),
    PipelineConfig(model="svm", c=0.3, calibration="sigmoid"),
    PipelineConfig(model="svm", c=1.0, calibration="sigmoid"),
    PipelineConfig(model="svm", c=1.0, calibration="sigmoid", min_df=2),
)
DEFAULT_CONFIG = PipelineConfig(model="logreg", c=30.0)


class TrainingErrorCode(StrEnum):
    """Why training cannot start."""

    NO_CORPUS = "no_corpus"  # fields: path
    NO_HELDOUT = "no_heldout"
    MISSING_CATEGORY = "missing_category"  # fields: label, count
    BAD_EXTRA_LABEL = "bad_extra_label"  # fields: label


class TrainingError(Exception):
    """Training cannot start: a `code` and the `fields` that explain it."""

    def __init__(self, code: TrainingErrorCode, **fields: object) -> None:
        super().__init__(f"{code}: {fields}" if fields else str(code))
        self.code = code
        self.fields = fields


@dataclass
class Corpus:
    """Labelled examples of the train and held-out splits."""

    train: list[Example]
    heldout: list[Example]


@dataclass(frozen=True)
class Threshold:
    """A confidence threshold and what it does on the data it was chosen from."""

    value: float
    precision: float
    coverage: float


@dataclass
class Candidate:
    """One configuration's cross-validated scores."""

    config: PipelineConfig
    macro_f1: float
    macro_f1_std: float
    log_loss: float

    @property
    def name(self) -> str:
        """Return a short human-readable description of the configuration."""
        return describe_config(self.config)


# --- progress events (training takes minutes; the caller shows these as it goes) ---------

@dataclass(frozen=True)
class ClassCounts:
    """How many examples of one label each split holds."""

    label: str
    train: int
    heldout: int


@dataclass(frozen=True)
class CorpusRead:
    """The training set is assembled (corrections merged, duplicates and leaks dropped)."""

    train: int
    heldout: int
    extra: int
    dropped: int
    per_class: tuple[ClassCounts, ...]


@dataclass(frozen=True)
class Tokenizing:
    """The dictionary is loading and `count` texts are being segmented."""

    count: int


@dataclass(frozen=True)
class Searching:
    """Cross-validation of `count` configurations with `folds` folds begins."""

    folds: int
    count: int


@dataclass(frozen=True)
class CandidateScored:
    """One configuration has been cross-validated."""

    candidate: Candidate


@dataclass(frozen=True)
class ConfigChosen:
    """Model selection is done."""

    candidate: Candidate


@dataclass(frozen=True)
class Fitting:
    """The final model is being fitted on the whole training set."""


@dataclass(frozen=True)
class ScoringOldModel:
    """The model currently installed is being scored on the held-out split."""

    path: Path


TrainingEvent = (CorpusRead | Tokenizing | Searching | CandidateScored | ConfigChosen | Fitting
                 | ScoringOldModel)
Progress = Callable[[TrainingEvent], None]


def no_progress(_event: TrainingEvent) -> None:
    """Ignore progress events."""


# --- the report ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassScores:
    """Precision, recall and F1 of one label."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Evaluation:
    """Scores of a model on labelled texts, overall and per label (in CATEGORIES order)."""

    count: int
    macro_f1: float
    accuracy: float
    per_class: tuple[ClassScores, ...]


@dataclass(frozen=True)
class QualityFailure:
    """A quality rule the held-out scores miss: `metric` (of `label`) is below `minimum`."""

    metric: Literal["macro_f1", "recall"]
    value: float
    minimum: float
    label: str | None = None

    def describe(self) -> str:
        """Describe the failure in one technical line (as report.json stores it)."""
        name = "macro-F1" if self.metric == "macro_f1" else f"recall({self.label})"
        return f"{name} {self.value:.4f} < {self.minimum}"


@dataclass(frozen=True)
class CrossValidation:
    """The configurations compared by cross-validation and the one chosen."""

    folds: int
    candidates: tuple[Candidate, ...]
    chosen: Candidate


@dataclass(frozen=True)
class ThresholdReport:
    """The auto-routing threshold: chosen out of fold, measured on the held-out split."""

    out_of_fold: Threshold
    heldout: Threshold
    product_rule_only: Threshold  # what the product rule alone would have chosen


@dataclass(frozen=True)
class Provenance:
    """Where a model comes from: version, data, setup and libraries."""

    model_version: str
    created: datetime
    data_hash: str  # "sha256:..."
    train_counts: dict[str, int]
    heldout_counts: dict[str, int]
    extra_examples: int
    dropped_duplicates: int
    pipeline: str
    libraries: dict[str, str]


@dataclass(frozen=True)
class OldModelScore:
    """The installed model scored on today's held-out split (`error` if it could not be read)."""

    version: str | None
    macro_f1: float | None
    error: str | None = None


class Decision(StrEnum):
    """What train_and_save did with the new model."""

    FIRST = "first"  # no model was installed: saved
    REPLACED = "replaced"  # not worse than the installed model: saved
    KEPT_OLD = "kept_old"  # worse: not saved
    FORCED = "forced"  # worse, saved anyway (force=True)


@dataclass
class TrainingReport:
    """What a training run measured and decided; train_and_save fills the last four fields."""

    heldout: Evaluation
    cross_validation: CrossValidation
    threshold: ThresholdReport
    quality_failures: tuple[QualityFailure, ...]
    provenance: Provenance
    old_model: OldModelScore | None = None
    decision: Decision | None = None
    saved_to: Path | None = None
    model_bytes: int | None = None


@dataclass
class TrainResult:
    """What a training run produced: the fitted model, its files' content and the report."""

    pipeline: Any
    compiled: CompiledModel
    tokenizer: Tokenizer
    metadata: dict[str, Any]
    artifact_report: dict[str, Any]  # written as report.json
    report: TrainingReport

    @property
    def version(self) -> str:
        return str(self.metadata["model_version"])

    def rename(self, version: str) -> None:
        """Call this model `version` everywhere it records its name (its metadata, report.json
        and the training report)."""
        self.metadata["model_version"] = version
        self.artifact_report["model_version"] = version
        self.report.provenance = replace(self.report.provenance, model_version=version)

    @property
    def heldout_macro_f1(self) -> float:
        """Return the new model's held-out macro-F1."""
        return self.report.heldout.macro_f1

    @property
    def replaced(self) -> bool:
        """Tell whether the new model was saved."""
        return self.report.decision in (Decision.FIRST, Decision.REPLACED, Decision.FORCED)


def describe_config(config: PipelineConfig) -> str:
    """Describe a configuration in one line (feature sets, model, C)."""
    feats = []
    if config.use_chars:
        feats.append(f"char{config.char_ngrams[0]}-{config.char_ngrams[1]}")
    if config.use_words:
        feats.append(f"word{config.word_ngrams[0]}-{config.word_ngrams[1]}")
    model = "LogisticRegression" if config.model == "logreg" else "LinearSVC"
    calibration = "" if config.calibration == "none" else f"+{config.calibration}"
    pruning = f" min_df={config.min_df}" if config.min_df > 1 else ""
    return f"{'+'.join(feats)} {model}{calibration} C={config.c:g}{pruning}"


def read_split(directory: Path) -> list[Example]:
    """Read `<label>.txt` files (one tip per line) of one split."""
    examples: list[Example] = []
    for label in CATEGORIES:
        path = directory / f"{label}.txt"
        if not path.is_file():
            continue
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                examples.append((line.strip(), label))
    return examples


def read_corpus(directory: Path) -> Corpus:
    """Read the corpus directory (train/ and heldout/ with one file per label)."""
    if not (directory / "train").is_dir():
        raise TrainingError(TrainingErrorCode.NO_CORPUS, path=directory)
    return Corpus(train=read_split(directory / "train"), heldout=read_split(directory / "heldout"))


def clean_training_set(train: Sequence[Example], extra: Sequence[Example],
                       heldout: Sequence[Example]) -> tuple[list[Example], int]:
    """Merge corrections into the train split; drop duplicates and held-out texts (no leaks)."""
    for _text, label in extra:
        if label not in CATEGORIES:
            raise TrainingError(TrainingErrorCode.BAD_EXTRA_LABEL, label=label)
    seen = {normalise(text) for text, _label in heldout}
    merged: dict[str, Example] = {}
    dropped = 0
    # Corrections come last so a staff member's label wins over the corpus for the same text.
    for text, label in [*train, *extra]:
        key = normalise(text)
        if not key or key in seen:
            dropped += 1
            continue
        if key in merged:
            dropped += 1
        merged[key] = (text, label)
    return list(merged.values()), dropped


def data_hash(train: Sequence[Example], heldout: Sequence[Example]) -> str:
    """Return a SHA-256 over the sorted labelled data of both splits."""
    digest = hashlib.sha256()
    for split, rows in (("train", train), ("heldout", heldout)):
        for text, label in sorted(rows, key=lambda row: (row[1], row[0])):
            digest.update(f"{split}\t{label}\t{text}\n".encode())
    return digest.hexdigest()


def choose_threshold(confidences: np.ndarray, correct: np.ndarray,
                     target: float = TARGET_PRECISION, window: int | None = None) -> Threshold:
    """Return the lowest threshold whose admitted predictions are right ≥ `target`.

    Two conditions must hold at the threshold: all predictions at or above it are right at
    least `target` of the time (the product rule), and so are the `window` least confident of
    them. The second keeps a very accurate model from auto-routing its coin-flip guesses just
    because its confident majority pulls the average up; real tips are harder than the corpus,
    and their extra errors sit at low confidence. window=0 applies the product rule alone;
    None uses max(MIN_WINDOW, 5% of the data).
    """
    n = len(confidences)
    if n == 0:
        return Threshold(value=1.0, precision=0.0, coverage=0.0)
    if window is None:
        window = max(MIN_WINDOW, round(0.05 * n))
    order = np.argsort(-confidences, kind="stable")
    conf = confidences[order]
    hits = np.cumsum(correct[order].astype(np.int64))
    counts = np.arange(1, n + 1)
    precision = hits / counts
    ok = precision >= target
    if window > 0:
        # Precision of the `window` lowest-confidence predictions admitted at each cut (all of
        # them while fewer than `window` are admitted).
        before = np.r_[np.zeros(1, dtype=np.int64), hits][np.maximum(counts - window, 0)]
        local = (hits - before) / np.minimum(counts, window)
        ok &= local >= target
    # A threshold at conf[i] admits every item with the same confidence, so only the last
    # index of each run of equal confidences is a valid cut.
    last_of_run = np.r_[conf[1:] != conf[:-1], True]
    valid = np.flatnonzero(last_of_run & ok)
    if len(valid) == 0:
        return Threshold(value=1.0, precision=0.0, coverage=0.0)
    best = int(valid[-1])
    return Threshold(value=float(conf[best]), precision=float(precision[best]),
                     coverage=float(counts[best] / n))


def at_threshold(confidences: np.ndarray, correct: np.ndarray, value: float) -> Threshold:
    """Measure precision and coverage of a given threshold on other data."""
    admitted = confidences >= value
    count = int(admitted.sum())
    precision = float(correct[admitted].mean()) if count else 0.0
    return Threshold(value=value, precision=precision,
                     coverage=count / len(confidences) if len(confidences) else 0.0)


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray,
                               bins: int = 10) -> float:
    """Return the expected calibration error of top-1 confidences (equal-width bins)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        in_bin = (confidences > low) & (confidences <= high)
        if in_bin.any():
            gap = abs(float(correct[in_bin].mean()) - float(confidences[in_bin].mean()))
            total += gap * float(in_bin.mean())
    return total


def classification_report(labels: Sequence[str], truth: Sequence[str], predicted: Sequence[str],
                          texts: Sequence[str] = (),
                          confidences: np.ndarray | None = None) -> dict[str, Any]:
    """Return per-class precision/recall/F1, macro-F1, accuracy, confusion matrix, errors."""
    label_list = list(labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=label_list, zero_division=0.0)
    report: dict[str, Any] = {
        "labels": label_list,
        "per_class": {
            label: {"precision": round(float(precision[i]), 4),
                    "recall": round(float(recall[i]), 4),
                    "f1": round(float(f1[i]), 4), "support": int(support[i])}
            for i, label in enumerate(label_list)},
        "macro_f1": round(float(f1_score(truth, predicted, labels=label_list, average="macro",
                                         zero_division=0.0)), 4),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "confusion_matrix": {
            "rows_are": "true label", "columns_are": "predicted label",
            "matrix": confusion_matrix(truth, predicted, labels=label_list).tolist()},
    }
    if texts:
        errors = [{"text": text, "true": true, "predicted": pred,
                   **({"confidence": round(float(confidences[i]), 4)}
                      if confidences is not None else {})}
                  for i, (text, true, pred) in enumerate(zip(texts, truth, predicted, strict=True))
                  if true != pred]
        report["errors"] = errors[:MAX_ERRORS_IN_REPORT]
    return report


def quality_failures(report: dict[str, Any]) -> list[QualityFailure]:
    """List which quality rules (macro-F1, per-class recall) a report misses."""
    failures = []
    if report["macro_f1"] < QUALITY_MACRO_F1:
        failures.append(QualityFailure("macro_f1", report["macro_f1"], QUALITY_MACRO_F1))
    for label, scores in report["per_class"].items():
        if scores["recall"] < QUALITY_MIN_RECALL:
            failures.append(QualityFailure("recall", scores["recall"], QUALITY_MIN_RECALL,
                                           label))
    return failures


def evaluation(report: dict[str, Any], count: int) -> Evaluation:
    """Return the typed scores of a classification_report over `count` texts."""
    return Evaluation(
        count=count, macro_f1=float(report["macro_f1"]), accuracy=float(report["accuracy"]),
        per_class=tuple(ClassScores(label=label, **scores)
                        for label, scores in report["per_class"].items()))


def library_versions() -> dict[str, str]:
    """Return the versions of the libraries a model depends on."""
    versions = {"python": platform.python_version()}
    for dist in ("scikit-learn", "numpy", "scipy", "jieba", "skops", "opencc"):
        try:
            versions[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            versions[dist] = "unknown"
    return versions


def _folds(labels: Sequence[str]) -> StratifiedKFold:
    """Return the cross-validation splitter (fewer folds when a class is tiny)."""
    smallest = min(Counter(labels).values())
    return StratifiedKFold(n_splits=max(2, min(CV_FOLDS, smallest)), shuffle=True,
                           random_state=SEED)


def _ordered_labels(labels: Iterable[str]) -> list[str]:
    """Return the labels present, in CATEGORIES order."""
    present = set(labels)
    return [label for label in CATEGORIES if label in present]


def cross_validate(config: PipelineConfig, X: np.ndarray, y: np.ndarray,
                   n_jobs: int) -> tuple[Candidate, np.ndarray, list[str]]:
    """Return a configuration's CV scores, out-of-fold probabilities and their column labels."""
    splitter = _folds(list(y))
    pipeline = build_pipeline(config, seed=SEED)
    probs = cross_val_predict(pipeline, X, y, cv=splitter, method="predict_proba",
                              n_jobs=n_jobs)
    classes = sorted(set(y))  # cross_val_predict orders columns like classes_ (sorted)
    predicted = np.asarray(classes)[probs.argmax(axis=1)]
    fold_f1 = [f1_score(y[test], predicted[test], average="macro", zero_division=0.0)
               for _train, test in splitter.split(X, y)]
    loss = log_loss(y, np.clip(probs, 1e-12, 1.0), labels=classes)
    candidate = Candidate(config=config, macro_f1=float(np.mean(fold_f1)),
                          macro_f1_std=float(np.std(fold_f1)), log_loss=float(loss))
    return candidate, probs, classes


def evaluate_old_model(directory: Path, heldout: Sequence[Example]) -> OldModelScore | None:
    """Score the model currently in `directory` on today's held-out split (None: no model)."""
    from classifier import versions
    from classifier.predictor import load

    directory = versions.current_dir(directory) or directory
    if not artifact.has_model(directory):
        return None
    try:
        old = load(directory)
    except Exception as exc:  # an unreadable old model must not block training a new one
        return OldModelScore(version=None, macro_f1=None, error=str(exc))
    texts = [text for text, _label in heldout]
    predicted = [p.category for p in old.predict_many(texts)]
    truth = [label for _text, label in heldout]
    labels = _ordered_labels(truth)
    return OldModelScore(version=old.model_version,
                         macro_f1=float(f1_score(truth, predicted, labels=labels,
                                                 average="macro", zero_division=0.0)))


def train(corpus: Corpus, extra: Sequence[Example] = (), *, search: bool = True,
          config: PipelineConfig = DEFAULT_CONFIG, progress: Progress = no_progress,
          n_jobs: int = 2, hmm: bool = True) -> TrainResult:
    """Select a configuration by cross-validation, fit it, evaluate it on the held-out split."""
    started = time.monotonic()
    if not corpus.heldout:
        raise TrainingError(TrainingErrorCode.NO_HELDOUT)
    train_set, dropped = clean_training_set(corpus.train, extra, corpus.heldout)
    counts_train = Counter(label for _text, label in train_set)
    counts_heldout = Counter(label for _text, label in corpus.heldout)
    for label in CATEGORIES:
        if counts_train[label] < 2:
            raise TrainingError(TrainingErrorCode.MISSING_CATEGORY, label=label,
                                count=counts_train[label])
    progress(CorpusRead(train=len(train_set), heldout=len(corpus.heldout), extra=len(extra),
                        dropped=dropped, per_class=tuple(
                            ClassCounts(label, counts_train[label], counts_heldout[label])
                            for label in CATEGORIES)))

    tokenizer = Tokenizer.with_domain_dictionary(hmm=hmm)
    progress(Tokenizing(count=len(train_set) + len(corpus.heldout)))
    tokenizer.load()
    X = prepare(tokenizer, [text for text, _label in train_set])
    y = np.asarray([label for _text, label in train_set])

    configs = SEARCH_SPACE if search else (config,)
    folds = _folds(list(y)).get_n_splits()
    progress(Searching(folds=folds, count=len(configs)))
    results: list[tuple[Candidate, np.ndarray, list[str]]] = []
    for cfg in configs:
        results.append(cross_validate(cfg, X, y, n_jobs=n_jobs))
        progress(CandidateScored(results[-1][0]))
    # Best macro-F1; among near-ties (within one fold-std) prefer the better-calibrated one.
    top = max(results, key=lambda r: r[0].macro_f1)[0]
    close = [r for r in results if r[0].macro_f1 >= top.macro_f1 - 0.005]
    chosen, oof_probs, oof_classes = min(close, key=lambda r: r[0].log_loss)
    progress(ConfigChosen(chosen))

    oof_conf = oof_probs.max(axis=1)
    oof_correct = np.asarray(oof_classes)[oof_probs.argmax(axis=1)] == y
    threshold = choose_threshold(oof_conf, oof_correct)
    product_rule_only = choose_threshold(oof_conf, oof_correct, window=0)

    progress(Fitting())
    pipeline = build_pipeline(chosen.config, seed=SEED).fit(X, y)
    _shrink(pipeline)

    from classifier.predictor import Classifier

    heldout_texts = [text for text, _label in corpus.heldout]
    heldout_truth = [label for _text, label in corpus.heldout]
    fitted = Classifier.from_pipeline(pipeline, tokenizer, {"threshold": threshold.value})
    probs = fitted.probabilities(heldout_texts)
    labels_order = fitted.labels
    heldout_conf = probs.max(axis=1)
    heldout_pred = [labels_order[i] for i in probs.argmax(axis=1)]
    heldout_correct = np.asarray(heldout_pred) == np.asarray(heldout_truth)
    heldout_at = at_threshold(heldout_conf, heldout_correct, threshold.value)
    report = classification_report(CATEGORIES, heldout_truth, heldout_pred, heldout_texts,
                                   heldout_conf)
    oof_report = classification_report(CATEGORIES, list(y),
                                       list(np.asarray(oof_classes)[oof_probs.argmax(axis=1)]))

    failures = quality_failures(report)

    created = datetime.now(UTC)
    digest = data_hash(train_set, corpus.heldout)
    version = f"{created:%Y%m%d.%H%M%S}-{digest[:8]}"
    threshold_info = {
        "value": threshold.value, "target_precision": TARGET_PRECISION,
        "chosen_on": "out-of-fold predictions of the training split",
        "rule": ("lowest threshold at which all predictions at or above it, and the "
                 f"max({MIN_WINDOW}, 5%) least confident of them, are right >= target"),
        "product_rule_only": {"value": product_rule_only.value,
                              "precision": round(product_rule_only.precision, 4),
                              "auto_routed_share": round(product_rule_only.coverage, 4)},
        "out_of_fold": {"precision": round(threshold.precision, 4),
                        "auto_routed_share": round(threshold.coverage, 4)},
        "heldout": {"precision": round(heldout_at.precision, 4),
                    "auto_routed_share": round(heldout_at.coverage, 4)},
    }
    full_report = {
        "model_version": version,
        "heldout": report,
        "cross_validation": {
            "folds": folds,
            "chosen": chosen.name,
            "candidates": [{"name": c.name, "config": c.config.describe(),
                            "macro_f1_mean": round(c.macro_f1, 4),
                            "macro_f1_std": round(c.macro_f1_std, 4),
                            "log_loss": round(c.log_loss, 4)} for c, _p, _l in results],
            "out_of_fold": {k: oof_report[k] for k in ("per_class", "macro_f1", "accuracy",
                                                       "confusion_matrix")},
        },
        "threshold": threshold_info,
        "calibration": {
            "expected_calibration_error_out_of_fold":
                round(expected_calibration_error(oof_conf, oof_correct), 4),
            "expected_calibration_error_heldout":
                round(expected_calibration_error(heldout_conf, heldout_correct), 4),
        },
        "quality": {"macro_f1_min": QUALITY_MACRO_F1, "recall_min": QUALITY_MIN_RECALL,
                    "failures": [failure.describe() for failure in failures]},
    }
    libraries = library_versions()
    metadata = {
        "model_version": version,
        "created": created.isoformat(timespec="seconds"),
        "data_hash": f"sha256:{digest}",
        "labels": list(CATEGORIES),
        "threshold": threshold.value,  # unrounded: rounding up would drop items
        "threshold_details": threshold_info,
        "metrics": {
            "heldout_macro_f1": report["macro_f1"],
            "heldout_accuracy": report["accuracy"],
            "heldout_recall": {k: v["recall"] for k, v in report["per_class"].items()},
            "cv_macro_f1_mean": round(chosen.macro_f1, 4),
            "cv_macro_f1_std": round(chosen.macro_f1_std, 4),
            "cv_log_loss": round(chosen.log_loss, 4),
        },
        "data": {
            "train": dict(sorted(counts_train.items())),
            "heldout": dict(sorted(counts_heldout.items())),
            "extra_examples": len(extra),
            "dropped_duplicates": dropped,
        },
        "pipeline": chosen.config.describe() | {"description": chosen.name},
        "tokenizer": {"hmm": hmm, "user_words": len(tokenizer.user_words)},
        "libraries": libraries,
        "training_seconds": round(time.monotonic() - started, 1),
    }
    training_report = TrainingReport(
        heldout=evaluation(report, len(heldout_texts)),
        cross_validation=CrossValidation(folds=folds,
                                         candidates=tuple(c for c, _p, _l in results),
                                         chosen=chosen),
        threshold=ThresholdReport(out_of_fold=threshold, heldout=heldout_at,
                                  product_rule_only=product_rule_only),
        quality_failures=tuple(failures),
        provenance=Provenance(
            model_version=version, created=created, data_hash=f"sha256:{digest}",
            train_counts=dict(sorted(counts_train.items())),
            heldout_counts=dict(sorted(counts_heldout.items())), extra_examples=len(extra),
            dropped_duplicates=dropped, pipeline=chosen.name, libraries=libraries))
    return TrainResult(pipeline=pipeline, compiled=fitted.compiled, tokenizer=tokenizer,
                       metadata=metadata, artifact_report=full_report, report=training_report)


def _shrink(pipeline: Any) -> None:
    """Drop fitted attributes that only explain training (min_df-pruned terms) before saving."""
    for _name, vectorizer, _column in pipeline.named_steps["features"].transformers_:
        if hasattr(vectorizer, "stop_words_"):
            del vectorizer.stop_words_


def train_and_save(corpus: Corpus, out: Path, extra: Sequence[Example] = (), *,
                   force: bool = False, search: bool = True,
                   config: PipelineConfig = DEFAULT_CONFIG, progress: Progress = no_progress,
                   n_jobs: int = 2, versioned: bool = False) -> TrainResult:
    """Train; replace the model in `out` only if held-out macro-F1 is not worse (or forced).

    `versioned` (the configured model path) installs the model as a new version under `out`
    and makes it current (see classifier/versions.py); otherwise `out` holds one artifact."""
    from classifier import versions

    result = train(corpus, extra, search=search, config=config, progress=progress,
                   n_jobs=n_jobs)
    report = result.report
    if versions.current_dir(out) is not None:
        progress(ScoringOldModel(out))
    old = evaluate_old_model(out, corpus.heldout)
    report.old_model = old
    if old is None or old.macro_f1 is None:
        report.decision = Decision.FIRST
    elif result.heldout_macro_f1 >= old.macro_f1:
        report.decision = Decision.REPLACED
    else:
        report.decision = Decision.FORCED if force else Decision.KEPT_OLD
    if report.decision is Decision.KEPT_OLD:
        return result
    result.metadata["replaced"] = (
        None if old is None or old.macro_f1 is None
        else {"model_version": old.version, "heldout_macro_f1": round(old.macro_f1, 4)})

    def save(directory: Path) -> None:
        artifact.save_artifact(directory, result.pipeline, result.compiled.save,
                               result.tokenizer.write_user_dict, result.metadata,
                               result.artifact_report)

    if versioned or (out / versions.CURRENT_FILE).exists():
        result.rename(versions.unused_name(out, result.version))
        target = versions.install(out, result.version, save)
    else:
        save(out)
        target = out
    report.saved_to = target
    report.model_bytes = (target / artifact.MODEL_FILE).stat().st_size
    return result


__all__ = [
    "DEFAULT_CONFIG",
    "SEARCH_SPACE",
    "Corpus",
    "Decision",
    "Threshold",
    "TrainResult",
    "TrainingError",
    "TrainingErrorCode",
    "TrainingEvent",
    "TrainingReport",
    "choose_threshold",
    "read_corpus",
    "train",
    "train_and_save",
]
