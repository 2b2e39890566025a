"""The fitted pipeline compiled to plain arrays: fast to load, fast to score, no pickle.

scikit-learn's per-call input validation costs about 0.2 ms per estimator call, and
importing scikit-learn and unpacking the skops file take seconds on a busy two-core machine.
Prediction only needs the vocabularies, idf weights, coefficients and calibration
parameters, so training exports them as plain JSON (weights.json, beside model.skops) and
this module reproduces the pipeline's arithmetic on them. A test checks that the results
equal the pipeline's predict_proba.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

FORMAT = 1
HEAD_SOFTMAX = "softmax"  # LogisticRegression (multinomial)
HEAD_SIGMOID = "sigmoid_ovr"  # CalibratedClassifierCV(method="sigmoid"), normalised
ANALYZER_CHAR = 0
ANALYZER_WORD = 1

# A prepared document: the normalised text (character n-grams) and its tokens (word n-grams).
Doc = tuple[str, Sequence[str]]


@dataclass
class _Block:
    """One tf-idf vectorizer's vocabulary and weighting, placed at `offset` in the features."""

    analyzer: int
    min_n: int
    max_n: int
    sublinear: bool
    vocabulary: dict[str, int]
    idf: np.ndarray
    offset: int

    def grams(self, doc: Doc) -> list[str]:
        """Return the n-grams scikit-learn's analyzer would produce for this block."""
        if self.analyzer == ANALYZER_CHAR:
            text = doc[0]
            grams = list(text) if self.min_n == 1 else []
            for n in range(max(2, self.min_n), min(self.max_n, len(text)) + 1):
                grams.extend(text[i:i + n] for i in range(len(text) - n + 1))
            return grams
        tokens = list(doc[1])
        grams = tokens[:] if self.min_n == 1 else []
        for n in range(max(2, self.min_n), min(self.max_n, len(tokens)) + 1):
            grams.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
        return grams

    def matrix(self, docs: Sequence[Doc]) -> sp.csr_matrix:
        """Return this block's tf-idf rows for `docs`, l2-normalised (block-local columns)."""
        lookup = self.vocabulary.get
        columns: list[int] = []
        lengths: list[int] = []
        for doc in docs:
            # map() over dict.get with a -1 default keeps the per-n-gram work in C; unknown
            # n-grams are dropped below in one NumPy step.
            before = len(columns)
            columns.extend(map(lookup, self.grams(doc), repeat(-1)))
            lengths.append(len(columns) - before)
        cols = np.asarray(columns, dtype=np.int64)
        rows = np.repeat(np.arange(len(docs)), lengths)
        known = cols >= 0
        # COO → CSR adds up repeated (row, column) pairs: the term counts.
        counts = sp.csr_matrix((np.ones(int(known.sum())), (rows[known], cols[known])),
                               shape=(len(docs), len(self.idf)))
        counts.sum_duplicates()
        data = counts.data
        if self.sublinear:
            np.log(data, out=data)
            data += 1.0
        data *= self.idf[counts.indices]
        row_norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
        row_norms[row_norms == 0.0] = 1.0
        data /= np.repeat(row_norms, np.diff(counts.indptr))
        return counts


class CompiledModel:
    """Tf-idf blocks, a linear layer and a probability head, as NumPy arrays."""

    def __init__(self, blocks: list[_Block], coef: np.ndarray, intercept: np.ndarray,
                 classes: list[str], head: str, sigmoid_a: np.ndarray | None = None,
                 sigmoid_b: np.ndarray | None = None) -> None:
        self.blocks = blocks
        self.n_features = int(coef.shape[1])
        # Stored transposed and contiguous: a (docs × features) CSR times this is one BLAS-free
        # sparse-dense product.
        self.weights = np.ascontiguousarray(coef.T)
        self.intercept = intercept
        self.classes = classes
        self.head = head
        self.sigmoid_a = sigmoid_a
        self.sigmoid_b = sigmoid_b

    # --- scoring ---------------------------------------------------------------------------

    def features(self, docs: Sequence[Doc]) -> sp.csr_matrix:
        """Return the l2-normalised tf-idf feature matrix of `docs` (like the ColumnTransformer)."""
        # Blocks are stored in column order, so stacking them side by side is the layout.
        blocks = [block.matrix(docs) for block in self.blocks]
        return blocks[0] if len(blocks) == 1 else sp.hstack(blocks, format="csr")

    def decision_one(self, doc: Doc) -> np.ndarray:
        """Return one document's linear scores without building sparse matrices."""
        scores = self.intercept.copy()
        for block in self.blocks:
            found = np.fromiter(map(block.vocabulary.get, block.grams(doc), repeat(-1)),
                                dtype=np.int64)
            found = found[found >= 0]
            if not len(found):
                continue
            columns, counts = np.unique(found, return_counts=True)
            values = np.log(counts) + 1.0 if block.sublinear else counts.astype(np.float64)
            values *= block.idf[columns]
            values /= np.sqrt(values @ values)
            scores += values @ self.weights[columns + block.offset]
        return scores

    def predict_proba_one(self, doc: Doc) -> np.ndarray:
        """Return one document's class probabilities (the single-tip fast path)."""
        return self._head(self.decision_one(doc).reshape(1, -1))[0]

    def decision(self, features: sp.csr_matrix) -> np.ndarray:
        """Return the linear scores (docs × classes)."""
        return np.asarray(features @ self.weights) + self.intercept

    def predict_proba(self, docs: Sequence[Doc]) -> np.ndarray:
        """Return class probabilities (docs × classes, columns in `classes` order)."""
        return self._head(self.decision(self.features(docs)))

    def _head(self, scores: np.ndarray) -> np.ndarray:
        """Turn linear scores (docs × classes) into probabilities."""
        if self.head == HEAD_SOFTMAX:
            scores -= scores.max(axis=1, keepdims=True)
            np.exp(scores, out=scores)
            return np.asarray(scores / scores.sum(axis=1, keepdims=True))
        assert self.sigmoid_a is not None and self.sigmoid_b is not None
        proba = 1.0 / (1.0 + np.exp(self.sigmoid_a * scores + self.sigmoid_b))
        total = proba.sum(axis=1, keepdims=True)
        uniform = np.full_like(proba, 1.0 / proba.shape[1])
        return np.asarray(np.divide(proba, total, out=uniform, where=total != 0))

    # --- export from scikit-learn and persistence ------------------------------------------------

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> CompiledModel:
        """Compile a fitted pipeline built by features.build_pipeline."""
        blocks: list[_Block] = []
        offset = 0
        for _name, vectorizer, _column in pipeline.named_steps["features"].transformers_:
            vocabulary = {str(term): int(j) for term, j in vectorizer.vocabulary_.items()}
            blocks.append(_Block(
                analyzer=ANALYZER_CHAR if vectorizer.analyzer == "char" else ANALYZER_WORD,
                min_n=int(vectorizer.ngram_range[0]), max_n=int(vectorizer.ngram_range[1]),
                sublinear=bool(vectorizer.sublinear_tf), vocabulary=vocabulary,
                idf=np.asarray(vectorizer.idf_, dtype=np.float64), offset=offset))
            offset += len(vocabulary)
        model = pipeline.named_steps["model"]
        classes = [str(c) for c in model.classes_]
        if hasattr(model, "calibrated_classifiers_"):
            if model.method != "sigmoid" or len(model.calibrated_classifiers_) != 1:
                raise ValueError("only single sigmoid calibration can be compiled")
            calibrated = model.calibrated_classifiers_[0]
            linear = calibrated.estimator
            # Calibrators follow the linear model's class order; map them onto `classes`.
            position = {str(c): i for i, c in enumerate(linear.classes_)}
            order = [position[c] for c in classes]
            a = np.asarray([calibrated.calibrators[i].a_ for i in order], dtype=np.float64)
            b = np.asarray([calibrated.calibrators[i].b_ for i in order], dtype=np.float64)
            return cls(blocks, np.asarray(linear.coef_, dtype=np.float64)[order],
                       np.asarray(linear.intercept_, dtype=np.float64)[order], classes,
                       HEAD_SIGMOID, a, b)
        return cls(blocks, np.asarray(model.coef_, dtype=np.float64),
                   np.asarray(model.intercept_, dtype=np.float64), classes, HEAD_SOFTMAX)

    def to_json(self) -> dict[str, Any]:
        """Return the model as JSON-ready data (arrays as base64 little-endian float64)."""
        data: dict[str, Any] = {
            "format": FORMAT,
            "classes": self.classes,
            "head": self.head,
            "n_features": self.n_features,
            "intercept": self.intercept.tolist(),
            "coef": _encode(self.weights.T),
            "blocks": [],
        }
        if self.sigmoid_a is not None and self.sigmoid_b is not None:
            data["sigmoid_a"], data["sigmoid_b"] = self.sigmoid_a.tolist(), self.sigmoid_b.tolist()
        for block in self.blocks:
            data["blocks"].append({
                "analyzer": "char" if block.analyzer == ANALYZER_CHAR else "word",
                "ngram_range": [block.min_n, block.max_n], "sublinear_tf": block.sublinear,
                "offset": block.offset,
                "terms": sorted(block.vocabulary, key=block.vocabulary.__getitem__),
                "idf": _encode(block.idf)})
        return data

    def save(self, path: Path) -> None:
        """Write the model as compact JSON (data only: nothing in it can run code)."""
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")),
                        encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> CompiledModel:
        """Read a model written by `save`."""
        data = json.loads(path.read_text("utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: unsupported format {data.get('format')!r}")
        blocks = []
        for spec in data["blocks"]:
            terms = spec["terms"]
            blocks.append(_Block(
                ANALYZER_CHAR if spec["analyzer"] == "char" else ANALYZER_WORD,
                int(spec["ngram_range"][0]), int(spec["ngram_range"][1]),
                bool(spec["sublinear_tf"]), dict(zip(terms, range(len(terms)), strict=True)),
                _decode(spec["idf"]), int(spec["offset"])))
        has_sigmoid = "sigmoid_a" in data
        return cls(blocks, _decode(data["coef"]), np.asarray(data["intercept"], dtype=np.float64),
                   [str(c) for c in data["classes"]], str(data["head"]),
                   np.asarray(data["sigmoid_a"], dtype=np.float64) if has_sigmoid else None,
                   np.asarray(data["sigmoid_b"], dtype=np.float64) if has_sigmoid else None)


def _encode(array: np.ndarray) -> dict[str, Any]:
    """Encode a float array as base64 of little-endian float64 with its shape."""
    raw = np.ascontiguousarray(array, dtype="<f8")
    return {"dtype": "<f8", "shape": list(raw.shape),
            "base64": base64.b64encode(raw.tobytes()).decode("ascii")}


def _decode(spec: dict[str, Any]) -> np.ndarray:
    """Decode an array written by `_encode`."""
    if spec.get("dtype") != "<f8":
        raise ValueError(f"unsupported array dtype {spec.get('dtype')!r}")
    flat = np.frombuffer(base64.b64decode(spec["base64"]), dtype="<f8")
    return flat.reshape(spec["shape"]).astype(np.float64)
