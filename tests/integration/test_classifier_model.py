"""Training, its typed report, the artifact round trip, the threshold rule, learning from staff,
batch classification with entities, and the package's independence from bot/."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from classifier import CATEGORIES, load
from classifier.artifact import (
    METADATA_FILE,
    MODEL_FILE,
    REPORT_FILE,
    RUNTIME_FILE,
    USER_DICT_FILE,
)
from classifier.batch import BadLine, Classified, LineError, classify_lines
from classifier.entities import Entity, EntityResolver
from classifier.features import PipelineConfig, prepare
from classifier.predictor import Classifier
from classifier.training import (
    CandidateScored,
    ConfigChosen,
    Corpus,
    CorpusRead,
    Decision,
    Fitting,
    ScoringOldModel,
    Searching,
    Tokenizing,
    TrainingError,
    TrainingErrorCode,
    TrainingEvent,
    at_threshold,
    choose_threshold,
    cross_validate,
    read_corpus,
    train_and_save,
)
from tests.support.classifier import SUBJECTS, write_corpus

ROOT = Path(__file__).resolve().parents[2]

QUICK = PipelineConfig(model="logreg", c=10.0)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("model")
    result = train_and_save(read_corpus(corpus_dir), out, search=False, config=QUICK,
                            progress=lambda _line: None, n_jobs=1)
    assert result.replaced
    return out


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Classifier:
    return load(model_dir)


def test_artifact_has_all_files_and_metadata(model_dir: Path) -> None:
    for name in (MODEL_FILE, RUNTIME_FILE, USER_DICT_FILE, METADATA_FILE, REPORT_FILE):
        assert (model_dir / name).is_file()
    meta = json.loads((model_dir / METADATA_FILE).read_text("utf-8"))
    assert meta["labels"] == list(CATEGORIES)
    assert meta["data_hash"].startswith("sha256:")
    assert 0.0 < meta["threshold"] <= 1.0
    assert {"scikit-learn", "jieba", "skops"} <= set(meta["libraries"])
    report = json.loads((model_dir / REPORT_FILE).read_text("utf-8"))
    assert set(report["heldout"]["per_class"]) == set(CATEGORIES)
    assert len(report["heldout"]["confusion_matrix"]["matrix"]) == len(CATEGORIES)


def test_round_trip_gives_identical_predictions(model_dir: Path, model: Classifier,
                                                corpus_dir: Path) -> None:
    again = load(model_dir / MODEL_FILE)  # a model file path works as well as its directory
    texts = [text for text, _label in read_corpus(corpus_dir).heldout]
    assert again.predict_many(texts) == model.predict_many(texts)
    assert np.array_equal(again.probabilities(texts), model.probabilities(texts))


def test_compiled_model_matches_the_skops_pipeline(model: Classifier, corpus_dir: Path) -> None:
    texts = [text for text, _label in read_corpus(corpus_dir).heldout]
    texts += ["", "！！！", "ok", "培训"]  # empty and nearly empty feature rows
    expected = model.pipeline.predict_proba(model.prepared(texts))  # loaded from model.skops
    assert np.allclose(model.probabilities(texts), expected, rtol=1e-9, atol=1e-12)


def test_compiled_svm_with_sigmoid_matches_its_pipeline(corpus_dir: Path) -> None:
    from classifier.features import build_pipeline
    from classifier.runtime import CompiledModel
    from classifier.text import Tokenizer

    corpus = read_corpus(corpus_dir)
    tokenizer = Tokenizer.with_domain_dictionary()
    X = prepare(tokenizer, [text for text, _label in corpus.train])
    y = [label for _text, label in corpus.train]
    config = PipelineConfig(model="svm", c=1.0, calibration="sigmoid", min_df=2)
    pipeline = build_pipeline(config).fit(X, y)
    Xh = prepare(tokenizer, [text for text, _label in corpus.heldout])
    docs = [(row[0], row[1].split()) for row in Xh]
    compiled = CompiledModel.from_pipeline(pipeline)
    assert np.allclose(compiled.predict_proba(docs), pipeline.predict_proba(Xh),
                       rtol=1e-9, atol=1e-12)


def test_predict_and_predict_many_agree(model: Classifier, corpus_dir: Path) -> None:
    texts = [text for text, _label in read_corpus(corpus_dir).heldout]
    texts += ["女儿在育才中学，课后服务强制参加", "機構跑路了，預收的學費不退", "", "!!"]
    many = model.predict_many(texts)
    for text, pred in zip(texts, many, strict=True):
        single = model.predict(text)
        assert single.category == pred.category
        assert single.confidence == pytest.approx(pred.confidence, rel=1e-9, abs=1e-12)


def test_prediction_shape(model: Classifier) -> None:
    pred = model.predict("班主任在家有偿补课，还推销教辅资料")
    assert pred.category == "teacher_paid_tutoring"
    assert pred.category in CATEGORIES and 0.0 <= pred.confidence <= 1.0
    assert pred.top_k[0] == (pred.category, pred.confidence)
    probs = [p for _c, p in pred.top_k]
    assert probs == sorted(probs, reverse=True)
    assert pred.model_version == model.model_version
    with pytest.raises(AttributeError):
        pred.category = "other"  # type: ignore[misc]


def test_empty_batch(model: Classifier) -> None:
    assert model.predict_many([]) == []


def test_heldout_is_learned(model_dir: Path) -> None:
    meta = json.loads((model_dir / METADATA_FILE).read_text("utf-8"))
    assert meta["metrics"]["heldout_macro_f1"] >= 0.8


# --- threshold ------------------------------------------------------------------------

def test_choose_threshold_is_the_lowest_that_keeps_precision() -> None:
    conf = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    correct = np.array([True, True, True, True, True, True, False, False])
    chosen = choose_threshold(conf, correct, target=0.95)
    assert chosen.value == 0.6 and chosen.precision == 1.0 and chosen.coverage == 0.75


def test_choose_threshold_respects_ties() -> None:
    # At 0.8 the admitted set is every 0.8, one of which is wrong: 4/5 < 0.95.
    conf = np.array([0.9, 0.8, 0.8, 0.8, 0.8])
    correct = np.array([True, True, True, True, False])
    assert choose_threshold(conf, correct, target=0.95).value == 0.9


def test_choose_threshold_with_nothing_good_routes_nothing() -> None:
    chosen = choose_threshold(np.array([0.9, 0.5]), np.array([False, False]))
    assert chosen.coverage == 0.0 and chosen.value == 1.0


def test_product_rule_alone_is_the_lowest_that_keeps_precision() -> None:
    rng = np.random.default_rng(3)
    conf = rng.random(2000)
    correct = rng.random(2000) < conf  # higher confidence, more often right
    chosen = choose_threshold(conf, correct, window=0)
    assert at_threshold(conf, correct, chosen.value).precision >= 0.95
    lower = conf[conf < chosen.value].max()
    assert at_threshold(conf, correct, lower).precision < 0.95


def test_least_confident_admitted_predictions_are_also_right_often_enough() -> None:
    # 900 sure and right, then 100 at 0.5 of which half are wrong: overall 95% right,
    # so the product rule alone would admit the coin flips too.
    conf = np.r_[np.full(900, 0.99), np.linspace(0.6, 0.4, 100)]
    correct = np.r_[np.ones(900, dtype=bool), np.arange(100) % 2 == 0]
    assert choose_threshold(conf, correct, window=0).coverage == 1.0
    chosen = choose_threshold(conf, correct, window=50)
    assert 0.9 <= chosen.coverage < 0.92  # at most a handful of the coin flips get in
    admitted = np.flatnonzero(conf >= chosen.value)
    least_confident = admitted[np.argsort(conf[admitted], kind="stable")][:50]
    assert correct[least_confident].mean() >= 0.95


def test_stored_threshold_meets_the_rule_on_the_data_it_was_chosen_from(
        model_dir: Path, corpus_dir: Path, model: Classifier) -> None:
    # Recompute the out-of-fold predictions the threshold was chosen on (seeded, so identical).
    corpus = read_corpus(corpus_dir)
    X = model.prepared([text for text, _label in corpus.train])
    y = np.asarray([label for _text, label in corpus.train])
    _cand, probs, classes = cross_validate(QUICK, X, y, n_jobs=1)
    correct = np.asarray(classes)[probs.argmax(axis=1)] == y
    meta = json.loads((model_dir / METADATA_FILE).read_text("utf-8"))
    measured = at_threshold(probs.max(axis=1), correct, meta["threshold"])
    assert measured.precision >= 0.95
    assert measured.coverage == pytest.approx(
        meta["threshold_details"]["out_of_fold"]["auto_routed_share"], abs=1e-3)


# --- learning from staff -------------------------------------------------------------------

def test_worse_model_from_bad_corrections_is_not_installed(tmp_path: Path,
                                                           corpus_dir: Path) -> None:
    out = tmp_path / "model"
    corpus = read_corpus(corpus_dir)
    quiet = {"progress": lambda _line: None, "n_jobs": 1, "search": False, "config": QUICK}
    first = train_and_save(corpus, out, **quiet)  # type: ignore[arg-type]
    version = json.loads((out / METADATA_FILE).read_text("utf-8"))["model_version"]
    # "Corrections" that relabel most homework tips as fees_refund make the model worse.
    homework = [text for text, label in corpus.train if label == "homework_burden"]
    wrong = [(text, "fees_refund") for text in homework[:-4]]
    second = train_and_save(corpus, out, wrong, **quiet)  # type: ignore[arg-type]
    assert second.heldout_macro_f1 < first.heldout_macro_f1
    assert not second.replaced
    assert json.loads((out / METADATA_FILE).read_text("utf-8"))["model_version"] == version
    forced = train_and_save(corpus, out, wrong, force=True, **quiet)  # type: ignore[arg-type]
    assert forced.replaced
    meta = json.loads((out / METADATA_FILE).read_text("utf-8"))
    assert meta["model_version"] != version and meta["data"]["extra_examples"] == len(wrong)


def test_corrections_are_learned(tmp_path: Path, corpus_dir: Path) -> None:
    corpus = read_corpus(corpus_dir)
    phrase = "学校门口的奶茶店太吵"
    extra = [(f"{subject}反映{phrase}{i}", "other") for i, subject in enumerate(SUBJECTS * 2)]
    train_and_save(Corpus(corpus.train, corpus.heldout), tmp_path, extra, search=False,
                   config=QUICK, progress=lambda _line: None, n_jobs=1, force=True)
    assert load(tmp_path).predict(f"家长反映{phrase}").category == "other"




# --- the typed report, progress events and errors ----------------------------------------------

def test_training_reports_typed_data(tmp_path: Path, corpus_dir: Path) -> None:
    events: list[TrainingEvent] = []
    result = train_and_save(read_corpus(corpus_dir), tmp_path, search=False, config=QUICK,
                            progress=events.append, n_jobs=1)
    assert [type(e) for e in events] == [CorpusRead, Tokenizing, Searching, CandidateScored,
                                         ConfigChosen, Fitting]
    corpus_read = events[0]
    assert isinstance(corpus_read, CorpusRead)
    assert [row.label for row in corpus_read.per_class] == list(CATEGORIES)
    report = result.report
    meta = json.loads((tmp_path / METADATA_FILE).read_text("utf-8"))
    assert [row.label for row in report.heldout.per_class] == list(CATEGORIES)
    assert report.heldout.macro_f1 == meta["metrics"]["heldout_macro_f1"]
    assert report.heldout.count == sum(row.support for row in report.heldout.per_class)
    assert report.threshold.out_of_fold.value == meta["threshold"]
    assert report.provenance.model_version == meta["model_version"]
    assert report.provenance.data_hash == meta["data_hash"]
    assert report.cross_validation.chosen.config == QUICK
    assert report.old_model is None and report.decision is Decision.FIRST
    assert report.saved_to == tmp_path
    assert report.model_bytes == (tmp_path / MODEL_FILE).stat().st_size


def test_quality_failures_are_typed(tmp_path: Path, corpus_dir: Path) -> None:
    corpus = read_corpus(corpus_dir)
    # Everything relabelled "other" except two examples per label: recall collapses.
    keep = {label: 0 for label in CATEGORIES}
    train = []
    for text, label in corpus.train:
        keep[label] += 1
        train.append((text, label if keep[label] <= 2 else "other"))
    result = train_and_save(Corpus(train, corpus.heldout), tmp_path, search=False,
                            config=QUICK, n_jobs=1)
    failures = result.report.quality_failures
    assert failures and {f.metric for f in failures} <= {"macro_f1", "recall"}
    recall_labels = {f.label for f in failures if f.metric == "recall"}
    assert "homework_burden" in recall_labels and "other" not in recall_labels
    stored = json.loads((tmp_path / REPORT_FILE).read_text("utf-8"))
    assert stored["quality"]["failures"] == [f.describe() for f in failures]


def test_errors_are_codes_with_fields(tmp_path: Path, corpus_dir: Path) -> None:
    with pytest.raises(TrainingError) as missing:
        read_corpus(tmp_path / "nowhere")
    assert missing.value.code is TrainingErrorCode.NO_CORPUS
    assert missing.value.fields == {"path": tmp_path / "nowhere"}
    corpus = read_corpus(corpus_dir)
    with pytest.raises(TrainingError) as bad:
        train_and_save(corpus, tmp_path, [("老师补课", "no_such_label")], search=False,
                       config=QUICK, n_jobs=1)
    assert (bad.value.code, bad.value.fields) == (TrainingErrorCode.BAD_EXTRA_LABEL,
                                                  {"label": "no_such_label"})
    with pytest.raises(TrainingError) as empty:
        train_and_save(Corpus(corpus.train, []), tmp_path, search=False, config=QUICK)
    assert empty.value.code is TrainingErrorCode.NO_HELDOUT
    homework_only = [(text, label) for text, label in corpus.train if label != "fees_refund"]
    with pytest.raises(TrainingError) as thin:
        train_and_save(Corpus(homework_only, corpus.heldout), tmp_path, search=False,
                       config=QUICK)
    assert (thin.value.code, thin.value.fields) == (TrainingErrorCode.MISSING_CATEGORY,
                                                    {"label": "fees_refund", "count": 0})
    assert not (tmp_path / MODEL_FILE).exists()


def test_comparison_with_the_installed_model_is_reported(tmp_path: Path,
                                                         corpus_dir: Path) -> None:
    corpus = read_corpus(corpus_dir)
    first = train_and_save(corpus, tmp_path, search=False, config=QUICK, n_jobs=1)
    events: list[TrainingEvent] = []
    again = train_and_save(corpus, tmp_path, search=False, config=QUICK, n_jobs=1,
                           progress=events.append)
    assert events[-1] == ScoringOldModel(tmp_path)
    old = again.report.old_model
    assert old is not None and old.error is None
    assert old.version == first.report.provenance.model_version
    assert old.macro_f1 == pytest.approx(first.heldout_macro_f1, abs=1e-4)
    assert again.report.decision is Decision.REPLACED  # equal is not worse
    (tmp_path / "weights.json").write_text("not json", "utf-8")
    unreadable = train_and_save(corpus, tmp_path, search=False, config=QUICK, n_jobs=1)
    assert unreadable.report.old_model is not None
    assert unreadable.report.old_model.macro_f1 is None and unreadable.report.old_model.error
    assert unreadable.report.decision is Decision.FIRST


# --- batch classification ----------------------------------------------------------------------

DIRECTORY = (
    Entity("district", "D1", "城关镇", (), "D1"),
    Entity("school", "S1", "城关镇第一小学", ("城关一小",), "D1"),
    Entity("institution", "I1", "学而思教育培训学校", ("学而思",), "D1"),
)


def test_classify_lines_keeps_order_and_reports_bad_lines(model: Classifier) -> None:
    lines = [json.dumps({"id": "a", "text": "班主任在家有偿补课"}, ensure_ascii=False),
             "not json", "[1]", json.dumps({"id": 4, "text": " "}), json.dumps({"text": 5}),
             json.dumps({"id": 6, "text": "城关一小作业太多写不完"}, ensure_ascii=False),
             json.dumps({"id": 7, "text": "学而思预收了一年学费"}, ensure_ascii=False),
             json.dumps({"id": 8, "text": "城关镇有人办无证培训班"}, ensure_ascii=False),
             json.dumps({"id": 9, "text": "罚抄课文二十遍"}, ensure_ascii=False)]
    resolver = EntityResolver(DIRECTORY)
    batches = list(classify_lines(model, lines, resolver, batch_size=4))
    assert [len(batch) for batch in batches] == [4, 4, 1]
    results = [result for batch in batches for result in batch]
    bad = [r for r in results if isinstance(r, BadLine)]
    assert [(r.line, r.error) for r in bad] == [
        (2, LineError.NOT_JSON), (3, LineError.NOT_OBJECT), (4, LineError.MISSING_TEXT),
        (5, LineError.TEXT_NOT_STRING)]
    good = [r for r in results if isinstance(r, Classified)]
    assert [r.id for r in good] == ["a", 6, 7, 8, 9]
    assert [r.entity.code if r.entity else None for r in good] == [None, "S1", "I1", "D1", None]
    assert [r.prediction for r in good] == model.predict_many(
        [json.loads(line)["text"] for line in lines if line[0] == "{" and "id" in line
         and json.loads(line)["id"] in ("a", 6, 7, 8, 9)])
    unresolved = [r for batch in classify_lines(model, lines) for r in batch]
    assert all(r.entity is None for r in unresolved if isinstance(r, Classified))


# --- independence ------------------------------------------------------------------------------

def test_the_classifier_imports_nothing_from_the_bot() -> None:
    outside = ("bot", "handlers", "storage", "scheduler", "localapi")
    found = []
    for path in (ROOT / "classifier").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {name}" for name in names
                      if name.split(".")[0] in outside]
    assert found == []
