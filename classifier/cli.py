"""Command-line functions `train` and `classify` (for `dudao`, or `python -m classifier.cli`)."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from classifier.artifact import shipped_model_dir

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_KEPT_OLD = 3  # trained fine, but the new model was worse and was not installed
DEFAULT_BATCH = 256


def default_corpus_dir() -> Path:
    """Return the corpus directory of a source checkout (data/corpus beside the package)."""
    return Path(__file__).resolve().parent.parent / "data" / "corpus"


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `train`'s options to `parser`."""
    parser.add_argument("--corpus", type=Path, default=None,
                        help="corpus directory with train/ and heldout/ (default: data/corpus)")
    parser.add_argument("--out", type=Path, default=None,
                        help="model directory to write (default: the shipped classifier/model)")
    parser.add_argument("--force", action="store_true",
                        help="install the new model even if its held-out macro-F1 is worse")
    parser.add_argument("--no-search", action="store_true",
                        help="skip the cross-validated model selection; use the default setup")
    parser.add_argument("--jobs", type=int, default=2, help="parallel cross-validation jobs")


def run_train(args: argparse.Namespace, extra_examples: Sequence[tuple[str, str]] = ()) -> int:
    """Train from the corpus plus `extra_examples` (text, label); return the exit code."""
    from bot.messages import t
    from classifier.training import TrainingError, read_corpus, train_and_save

    corpus_dir = args.corpus or default_corpus_dir()
    out = args.out or shipped_model_dir()
    try:
        corpus = read_corpus(corpus_dir)
        result = train_and_save(corpus, out, list(extra_examples), force=args.force,
                                search=not args.no_search, progress=_print_flush,
                                n_jobs=args.jobs)
    except TrainingError as exc:
        print(t(exc.key, **exc.params), file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK if result.replaced else EXIT_KEPT_OLD


def _print_flush(line: str) -> None:
    """Print a progress line at once (training runs for a while)."""
    print(line, flush=True)


def add_classify_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `classify`'s options to `parser`."""
    parser.add_argument("--model", default=None,
                        help="model directory or model.skops file (default: the shipped model)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                        help="lines classified (and flushed) together; 1 for request/response")


def _parse_line(line: str) -> tuple[Any, str | None, str | None]:
    """Parse one input line into (id, text, error key); exactly one of text/error is set."""
    try:
        data = json.loads(line)
    except ValueError:
        return None, None, "classifier.error.not_json"
    if not isinstance(data, dict):
        return None, None, "classifier.error.not_object"
    ident = data.get("id")
    text = data.get("text")
    if text is not None and not isinstance(text, str):
        return ident, None, "classifier.error.text_not_string"
    if text is None or not text.strip():
        return ident, None, "classifier.error.missing_text"
    return ident, text, None


def run_classify(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    """Classify JSON Lines from `stdin` onto `stdout`, in order; bad lines get an error line."""
    from bot.messages import t
    from classifier.predictor import load

    try:
        model = load(args.model)
    except Exception as exc:  # any load failure is reported to the operator, not a traceback
        print(t("classifier.error.no_model", error=exc), file=sys.stderr)
        return EXIT_ERROR
    batch_size = max(1, int(getattr(args, "batch_size", DEFAULT_BATCH)))
    # Each pending entry is either a finished error record or (id, text) awaiting prediction.
    pending: list[dict[str, Any] | tuple[Any, str]] = []

    def flush() -> None:
        texts = [entry[1] for entry in pending if isinstance(entry, tuple)]
        predictions = iter(model.predict_many(texts))
        for entry in pending:
            if isinstance(entry, tuple):
                pred = next(predictions)
                record: dict[str, Any] = {
                    "id": entry[0], "category": pred.category, "confidence": pred.confidence,
                    "top_k": [[label, prob] for label, prob in pred.top_k],
                    "model_version": pred.model_version}
            else:
                record = entry
            stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        stdout.flush()
        pending.clear()

    for number, raw in enumerate(stdin, start=1):
        ident, text, error = _parse_line(raw)
        if error is not None:
            pending.append({"id": ident, "line": number, "error": t(error)})
        else:
            assert text is not None
            pending.append((ident, text))
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run `train` or `classify` from the command line."""
    parser = argparse.ArgumentParser(prog="python -m classifier.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    add_train_arguments(commands.add_parser("train", help="train and evaluate the model"))
    add_classify_arguments(commands.add_parser("classify", help="classify JSON Lines"))
    args = parser.parse_args(argv)
    # Undecodable bytes become U+FFFD: such a line is reported as bad, the run goes on.
    for stream in (sys.stdin, sys.stdout):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="replace")
    if args.command == "train":
        return run_train(args)
    return run_classify(args, sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
