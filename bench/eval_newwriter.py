"""Evaluate a trained classifier on the new-writer tip set (data/corpus/newwriter/*.txt).

The set was written after the shipped model was trained, by a writer who did not write the
corpus; it is never used for training or model selection.

Run: .venv/bin/python bench/eval_newwriter.py [--model DIR] [--data DIR]
Prints a JSON report: per-class precision/recall/F1, macro-F1, accuracy, confusion matrix,
the auto-routing threshold's share and precision, and every misclassified tip.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from classifier import CATEGORIES, load  # noqa: E402
from classifier.training import classification_report  # noqa: E402

DEFAULT_DATA = ROOT / "data" / "corpus" / "newwriter"


def read_tips(directory: Path) -> list[tuple[str, str]]:
    """Return (text, label) pairs from <label>.txt files, one tip per non-blank line."""
    tips: list[tuple[str, str]] = []
    for label in CATEGORIES:
        path = directory / f"{label}.txt"
        if not path.is_file():
            raise SystemExit(f"missing {path}")
        tips.extend((line.strip(), label)
                    for line in path.read_text("utf-8").splitlines() if line.strip())
    return tips


def evaluate(model_path: str | None, directory: Path) -> dict[str, Any]:
    """Classify every tip and return the report (the same one `dudao train` prints)."""
    clf = load(model_path)
    tips = read_tips(directory)
    texts = [text for text, _label in tips]
    truth = [label for _text, label in tips]
    predictions = clf.predict_many(texts)
    predicted = [p.category for p in predictions]
    confidence = np.array([p.confidence for p in predictions])
    report = classification_report(list(CATEGORIES), truth, predicted, texts, confidence)
    admitted = [i for i, c in enumerate(confidence) if c >= clf.threshold]
    admitted_right = sum(truth[i] == predicted[i] for i in admitted)
    report["threshold"] = {
        "value": round(clf.threshold, 4),
        "admitted": len(admitted),
        "share": round(len(admitted) / len(tips), 4) if tips else 0.0,
        "precision": round(admitted_right / len(admitted), 4) if admitted else 0.0,
        "admitted_errors": len(admitted) - admitted_right}
    return {"model_version": clf.model_version, "data": str(directory), "n": len(tips),
            **report}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None,
                        help="model directory (default: the model shipped with dudao)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="directory with one <label>.txt per label")
    args = parser.parse_args(argv)
    report = evaluate(args.model, args.data)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
