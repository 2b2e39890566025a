"""`dudao train` and `dudao classify`: arguments, progress lines, the rendered report, errors.

The classifier package computes (typed events, reports and error codes); this module turns
them into the operator's Chinese text from the catalogue and into the JSON Lines contract.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.config import PROJECT_ROOT, Settings, load_settings
from bot.messages import t

if TYPE_CHECKING:
    from classifier.batch import LineResult
    from classifier.entities import Entity
    from classifier.training import TrainingEvent, TrainingReport

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_KEPT_OLD = 3  # trained fine, but the new model was worse and was not installed


# Where `dudao train` writes when [classifier] model_path is not set (relative to the
# working directory, like the default database under var/).
DEFAULT_TRAINED_MODEL = Path("var") / "model"


def default_corpus_dir() -> Path:
    """Return the corpus directory of a source checkout (data/corpus)."""
    return PROJECT_ROOT / "data" / "corpus"


def trained_model_dir(settings: Settings) -> Path:
    """Where `dudao train` writes: the configured model_path, else var/model."""
    from classifier.artifact import resolve_dir

    configured = settings.classifier.model_path
    return resolve_dir(configured) if configured else DEFAULT_TRAINED_MODEL


def model_to_load(settings: Settings) -> Path | None:
    """The model `dudao run`, `try` and `classify` use: the trained (configured) model if
    that directory holds one, else None, which loads the model shipped with dudao."""
    from classifier.versions import current_dir

    return current_dir(trained_model_dir(settings))


def _inside_installed_package(target: Path) -> bool:
    """Tell whether `target` is the shipped model of an installed (not a source) dudao."""
    from classifier.artifact import shipped_model_dir

    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return False  # a source checkout: maintainers update the shipped model on purpose
    return target.resolve().is_relative_to(shipped_model_dir().resolve())


# --- dudao train ---------------------------------------------------------------------------


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `train`'s options to `parser`."""
    parser.add_argument("--corpus", type=Path, default=None,
                        help=t("cli.help.train_corpus"))
    parser.add_argument("--out", type=Path, default=None,
                        help=t("cli.help.train_out"))
    parser.add_argument("--force", action="store_true",
                        help=t("cli.help.train_force"))
    parser.add_argument("--no-search", action="store_true",
                        help=t("cli.help.train_no_search"))
    parser.add_argument("--jobs", type=int, default=2, help=t("cli.help.train_jobs"))
    parser.add_argument("--config", metavar="FILE", default=None, help=t("cli.help.config"))


def run_train(args: argparse.Namespace, extra_examples: Sequence[tuple[str, str]] = (),
              settings: Settings | None = None) -> int:
    """Train from the corpus plus `extra_examples` (text, label), print the report; exit code.

    The model goes to --out, else the configured [classifier] model_path, else var/model;
    never into an installed package (`dudao run` loads it from there).
    """
    from classifier.training import Decision, TrainingError, read_corpus, train_and_save

    corpus_dir = args.corpus or default_corpus_dir()
    if args.out is not None:
        out = Path(args.out)
    else:
        out = trained_model_dir(settings or load_settings(getattr(args, "config", None)))
    if _inside_installed_package(out):
        print(t("classifier.train.out_in_package", path=out), file=sys.stderr)
        return EXIT_ERROR
    progress = TrainProgress(sys.stdout, sys.stderr)
    try:
        corpus = read_corpus(corpus_dir)
        result = train_and_save(corpus, out, list(extra_examples), force=args.force,
                                search=not args.no_search, progress=progress,
                                n_jobs=args.jobs, versioned=args.out is None)
    except TrainingError as exc:
        progress.close()
        print(t(f"classifier.error.{exc.code}", **exc.fields), file=sys.stderr)
        return EXIT_ERROR
    progress.close()
    for line in render_report(result.report):
        print(line, flush=True)
    return EXIT_KEPT_OLD if result.report.decision is Decision.KEPT_OLD else EXIT_OK


class TrainProgress:
    """Training's progress: event lines on `out`, and a tqdm bar on `err` with an estimate.

    The bar counts the steps that take time: segmenting, each configuration's
    cross-validation and the final fit; tqdm estimates the time left from their pace.
    """

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err
        self.bar: Any = None

    def __call__(self, event: TrainingEvent) -> None:
        from classifier import training as tr

        for line in render_event(event):
            self._write(line)
        match event:
            case tr.Tokenizing():
                self._open(total=2, step=t("classifier.train.step.tokenizing"))
            case tr.Searching():
                self._advance(t("classifier.train.step.search"), total=event.count + 2)
            case tr.CandidateScored():
                self._advance(t("classifier.train.step.search"))
            case tr.Fitting():
                self._describe(t("classifier.train.step.fitting"))
            case tr.ScoringOldModel():
                self._advance(t("classifier.train.step.scoring_old"), total=self._total() + 1)

    def _open(self, total: int, step: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=step, file=self.err, leave=True, mininterval=0.5,
                        bar_format=t("classifier.train.bar_format"), dynamic_ncols=True)

    def _total(self) -> int:
        return int(self.bar.total) if self.bar is not None else 0

    def _describe(self, step: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(step)

    def _advance(self, step: str, total: int | None = None) -> None:
        if self.bar is None:
            return
        if total is not None:
            self.bar.total = total
        self.bar.set_description_str(step, refresh=False)
        self.bar.update(1)

    def _write(self, line: str) -> None:
        if self.bar is None:
            print(line, file=self.out, flush=True)
        else:
            from tqdm import tqdm

            tqdm.write(line, file=self.out)
            self.out.flush()

    def close(self) -> None:
        """Fill the bar (the last step is done) and leave it on screen."""
        if self.bar is not None:
            self.bar.set_description_str(t("classifier.train.step.done"), refresh=False)
            self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()
            self.bar = None


def render_event(event: TrainingEvent) -> list[str]:
    """Render a training progress event as lines of text."""
    from classifier import training as tr

    match event:
        case tr.CorpusRead():
            return [t("classifier.train.corpus_summary", train=event.train,
                      heldout=event.heldout, extra=event.extra, dropped=event.dropped),
                    *(t("classifier.train.class_line", label=row.label,
                        name=t(f"category.{row.label}"), train=row.train, heldout=row.heldout)
                      for row in event.per_class)]
        case tr.Tokenizing():
            return [t("classifier.train.tokenizing", count=event.count)]
        case tr.Searching():
            return [t("classifier.train.search", folds=event.folds, count=event.count)]
        case tr.CandidateScored():
            cand = event.candidate
            return [t("classifier.train.candidate", name=cand.name, f1=cand.macro_f1,
                      std=cand.macro_f1_std, loss=cand.log_loss)]
        case tr.ConfigChosen():
            return [t("classifier.train.chosen", name=event.candidate.name)]
        case tr.Fitting():
            return [t("classifier.train.fitting")]
        case tr.ScoringOldModel():
            return [t("classifier.train.scoring_old", path=event.path)]
    raise TypeError(f"unknown training event {event!r}")


def render_report(report: TrainingReport) -> list[str]:
    """Render the evaluation, the comparison with the installed model and the decision."""
    from classifier.training import Decision

    heldout = report.heldout
    threshold = report.threshold
    lines = [t("classifier.train.heldout", count=heldout.count)]
    lines += [t("classifier.train.class_metrics", label=row.label,
                name=t(f"category.{row.label}"), precision=row.precision, recall=row.recall,
                f1=row.f1, support=row.support) for row in heldout.per_class]
    lines.append(t("classifier.train.macro", f1=heldout.macro_f1, accuracy=heldout.accuracy,
                   cv_f1=report.cross_validation.chosen.macro_f1))
    lines.append(t("classifier.train.threshold", threshold=threshold.out_of_fold.value,
                   coverage=threshold.out_of_fold.coverage,
                   precision=threshold.out_of_fold.precision,
                   h_coverage=threshold.heldout.coverage,
                   h_precision=threshold.heldout.precision))
    lines.append(t("classifier.train.threshold_rule_only",
                   threshold=threshold.product_rule_only.value,
                   coverage=threshold.product_rule_only.coverage))
    lines.append(t("classifier.train.quality_ok") if not report.quality_failures
                 else t("classifier.train.quality_fail",
                        detail="；".join(f.describe() for f in report.quality_failures)))
    old = report.old_model
    if old is not None and old.error is not None:
        lines.append(t("classifier.train.old_unreadable", error=old.error))
    if old is None or old.macro_f1 is None:
        lines.append(t("classifier.train.no_old"))
    else:
        lines.append(t("classifier.train.compare", old=old.macro_f1, old_version=old.version,
                       new=heldout.macro_f1))
    if report.decision is Decision.KEPT_OLD:
        lines.append(t("classifier.train.kept_old"))
    elif report.decision is Decision.FORCED:
        lines.append(t("classifier.train.forced"))
    if report.saved_to is not None and report.model_bytes is not None:
        lines.append(t("classifier.train.saved", path=report.saved_to,
                       version=report.provenance.model_version,
                       size=f"{report.model_bytes / 1024:.0f} KiB"))
    return lines


# --- dudao classify ------------------------------------------------------------------------


def add_classify_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `classify`'s options to `parser`."""
    from classifier.batch import DEFAULT_BATCH

    parser.add_argument("--model", default=None,
                        help=t("cli.help.classify_model"))
    parser.add_argument("--config", metavar="FILE", default=None,
                        help=t("cli.help.classify_config"))
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, metavar="N",
                        help=t("cli.help.classify_batch"))


def directory_entities(settings: Settings) -> list[Entity]:
    """Read the configured directory files into the districts, schools and institutions."""
    from bot.bootstrap import directory_files
    from bot.directory.files import read_directory_files
    from classifier.entities import Entity

    files = directory_files(settings.directory.import_on_start)
    if not files:
        return []
    data = read_directory_files(files)
    entities = [Entity("district", row.code, row.name, (), row.code) for row in data.districts]
    for kind, rows in (("school", data.schools), ("institution", data.institutions)):
        entities += [Entity(kind, row.code, row.name, row.aliases or (), row.district_code)
                     for row in rows]
    return entities


def run_classify(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    """Classify JSON Lines from `stdin` onto `stdout`, in order; bad lines get an error line."""
    from bot.directory.problems import DirectoryFileError
    from classifier.batch import classify_lines
    from classifier.entities import EntityResolver
    from classifier.predictor import load

    settings = load_settings(args.config)
    try:
        model = load(args.model or model_to_load(settings))
    except Exception as exc:  # any load failure is reported to the operator, not a traceback
        print(t("classifier.error.no_model", error=exc), file=sys.stderr)
        return EXIT_ERROR
    try:
        entities = directory_entities(settings)
    except DirectoryFileError as exc:
        print(t("classifier.error.no_directory", error=exc), file=sys.stderr)
        return EXIT_ERROR
    # As in the bot: the directory's names are words to the tokenizer and entities to find.
    model.add_words(w for e in entities for w in (e.name, *e.aliases) if len(w) >= 2)
    resolver = EntityResolver(entities) if entities else None
    # Undecodable bytes become U+FFFD: such a line is reported as bad, the run goes on.
    for stream in (stdin, stdout):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="replace")
    for batch in classify_lines(model, stdin, resolver, args.batch_size):
        for result in batch:
            stdout.write(json.dumps(render_line(result), ensure_ascii=False) + "\n")
        stdout.flush()
    return EXIT_OK


def render_line(result: LineResult) -> dict[str, Any]:
    """Return the output record of one input line (the operator contract in README.md)."""
    from classifier.batch import BadLine

    if isinstance(result, BadLine):
        return {"id": result.id, "line": result.line,
                "error": t(f"classifier.error.{result.error}")}
    pred, entity = result.prediction, result.entity
    return {"id": result.id, "category": pred.category, "confidence": pred.confidence,
            "top_k": [[label, prob] for label, prob in pred.top_k],
            "model_version": pred.model_version,
            "entity": None if entity is None
            else {"kind": entity.kind, "code": entity.code, "name": entity.name}}


# --- dudao model list | rollback VERSION ----------------------------------------------------


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `model`'s sub-commands (list, rollback VERSION) to `parser`."""
    sub = parser.add_subparsers(dest="model_command", required=True,
                                title=t("cli.help.commands"),
                                metavar=t("cli.help.command_metavar"))
    listing = sub.add_parser("list", help=t("cli.help.model_list"),
                             description=t("cli.help.model_list"))
    listing.add_argument("--config", metavar="FILE", default=None, help=t("cli.help.config"))
    back = sub.add_parser("rollback", help=t("cli.help.model_rollback"),
                          description=t("cli.help.model_rollback"))
    back.add_argument("version", metavar="VERSION", help=t("cli.help.model_version"))
    back.add_argument("--config", metavar="FILE", default=None, help=t("cli.help.config"))


def run_model(args: argparse.Namespace, out: TextIO) -> int:
    """List the versions kept under the model path, or make a kept one current again.

    The running bot notices the new CURRENT within a second and serves that version."""
    from classifier.versions import VersionError, list_versions, rollback

    path = trained_model_dir(load_settings(args.config))
    if args.model_command == "rollback":
        try:
            rollback(path, args.version)
        except VersionError:
            print(t("classifier.model.unknown_version", version=args.version, path=path),
                  file=sys.stderr)
            return EXIT_ERROR
        print(t("classifier.model.rolled_back", version=args.version), file=out)
        return EXIT_OK
    found = list_versions(path) if path.is_dir() else []
    if not found:
        print(t("classifier.model.none", path=path), file=out)
        return EXIT_OK
    for info in found:
        print(t("classifier.model.line", mark="*" if info.current else " ",
                version=info.version, created=info.created,
                f1="—" if info.heldout_macro_f1 is None else f"{info.heldout_macro_f1:.4f}"),
              file=out)
    return EXIT_OK
