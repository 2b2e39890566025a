"""Training, the artifact round trip, the threshold rule, learning from staff, the classify CLI."""

from __future__ import annotations

import argparse
import io
import json
import random
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
from classifier.cli import EXIT_KEPT_OLD, EXIT_OK, add_classify_arguments, run_classify
from classifier.features import PipelineConfig, prepare
from classifier.predictor import Classifier
from classifier.training import (
    Corpus,
    at_threshold,
    choose_threshold,
    cross_validate,
    read_corpus,
    train_and_save,
)

SUBJECTS = ("孩子", "我家小孩", "女儿", "儿子", "我们班的学生")
SCHOOLS = ("城关一小", "育才中学", "实验小学", "第二中学", "向阳小学")
# Phrases typical of each label; a tip is a subject, a school and one or two phrases.
PHRASES: dict[str, tuple[str, ...]] = {
    "homework_burden": ("每天作业写到晚上十一点", "作业太多写不完", "老师让家长批改作业",
                        "罚抄课文二十遍", "周末作业量特别大", "作业要家长签字打卡"),
    "unlicensed_tutoring": ("周末有机构偷偷上数学课", "无证培训班在小区里上课",
                            "寒假开了学科类培训", "以托管名义上英语课", "培训机构超前超纲教学",
                            "一对一私教在民房里上课"),
    "fees_refund": ("培训机构不退费", "预收了一年学费", "机构跑路了钱要不回来",
                    "退款拖了三个月", "课时费乱收费", "交的押金不退"),
    "teacher_paid_tutoring": ("班主任在家有偿补课", "数学老师让学生去他家补课",
                              "老师推销教辅资料", "在职教师周末收费辅导",
                              "老师暗示不补课就不管", "英语老师开补习班"),
    "after_school_service": ("课后服务强制参加", "课后服务收费太高", "课后服务讲新课",
                             "课后服务就是看自习", "学校不提供课后服务", "延时服务不去要写说明"),
    "other": ("考试成绩公开排名", "食堂饭菜不卫生", "校园欺凌没人管", "学校收手机不还",
              "体育课被占用", "校车超载很危险"),
}


def _tips(label: str, count: int, rng: random.Random) -> list[str]:
    """Compose `count` distinct tips for `label`."""
    tips: set[str] = set()
    while len(tips) < count:
        first, second = rng.sample(PHRASES[label], 2)
        tips.add(f"{rng.choice(SUBJECTS)}在{rng.choice(SCHOOLS)}，{first}，{second}")
    return sorted(tips)


def write_corpus(root: Path, train: int = 24, heldout: int = 8, seed: int = 1) -> Path:
    """Write a small synthetic corpus in the corpus layout and return its directory."""
    rng = random.Random(seed)
    for split in ("train", "heldout"):
        (root / split).mkdir(parents=True, exist_ok=True)
    for label in CATEGORIES:
        tips = _tips(label, train + heldout, rng)
        (root / "train" / f"{label}.txt").write_text("\n".join(tips[heldout:]) + "\n", "utf-8")
        (root / "heldout" / f"{label}.txt").write_text("\n".join(tips[:heldout]) + "\n", "utf-8")
    return root


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


# --- classify CLI ------------------------------------------------------------------------------

def _classify(model_dir: Path, lines: list[str], batch_size: int = 2) -> tuple[int, list[dict]]:
    parser = argparse.ArgumentParser()
    add_classify_arguments(parser)
    args = parser.parse_args(["--model", str(model_dir), "--batch-size", str(batch_size)])
    out = io.StringIO()
    code = run_classify(args, io.StringIO("".join(line + "\n" for line in lines)), out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_classify_cli_good_and_bad_lines(model_dir: Path) -> None:
    lines = [
        json.dumps({"id": "a", "text": "班主任在家有偿补课"}, ensure_ascii=False),
        "this is not json",
        "[1, 2, 3]",
        json.dumps({"id": 4, "text": ""}),
        json.dumps({"id": 5, "text": 42}),
        json.dumps({"id": 6}),
        json.dumps({"id": 7, "text": "課後服務強制參加"}, ensure_ascii=False),
        "",
        json.dumps({"id": None, "text": "机构跑路了，学费不退"}, ensure_ascii=False),
    ]
    code, records = _classify(model_dir, lines)
    assert code == EXIT_OK
    assert len(records) == len(lines)
    assert [r.get("id") for r in records] == ["a", None, None, 4, 5, 6, 7, None, None]
    errors = {r["line"]: r["error"] for r in records if "error" in r}
    assert sorted(errors) == [2, 3, 4, 5, 6, 8]
    assert all(isinstance(msg, str) and msg for msg in errors.values())
    good = [r for r in records if "error" not in r]
    assert [r["category"] for r in good] == [
        "teacher_paid_tutoring", "after_school_service", "fees_refund"]
    for record in good:
        assert 0.0 <= record["confidence"] <= 1.0
        assert record["top_k"][0] == [record["category"], record["confidence"]]
        assert record["model_version"]
        assert "line" not in record


def test_classify_cli_writes_chinese_unescaped(model_dir: Path) -> None:
    parser = argparse.ArgumentParser()
    add_classify_arguments(parser)
    out = io.StringIO()
    run_classify(parser.parse_args(["--model", str(model_dir)]), io.StringIO("oops\n"), out)
    assert "\\u" not in out.getvalue() and "JSON" in out.getvalue()


def test_classify_cli_batch_size_does_not_change_results(model_dir: Path) -> None:
    lines = [json.dumps({"id": i, "text": tip}, ensure_ascii=False)
             for i, tip in enumerate(_tips("fees_refund", 5, random.Random(9)))] + ["{"]
    assert _classify(model_dir, lines, 1) == _classify(model_dir, lines, 100)


def test_classify_cli_reports_a_missing_model(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_classify_arguments(parser)
    code = run_classify(parser.parse_args(["--model", str(tmp_path)]), io.StringIO(""),
                        io.StringIO())
    assert code != EXIT_OK and code != EXIT_KEPT_OLD


# --- train CLI ---------------------------------------------------------------------------------

def _train_args(*argv: str) -> argparse.Namespace:
    from classifier.cli import add_train_arguments

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    return parser.parse_args(list(argv))


def test_train_cli_reports_a_missing_corpus(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from classifier.cli import EXIT_ERROR, run_train

    args = _train_args("--corpus", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m"))
    assert run_train(args) == EXIT_ERROR
    assert "语料" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_train_cli_rejects_unknown_correction_labels(tmp_path: Path, corpus_dir: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from classifier.cli import EXIT_ERROR, run_train

    args = _train_args("--corpus", str(corpus_dir), "--out", str(tmp_path), "--no-search")
    assert run_train(args, [("老师补课", "no_such_label")]) == EXIT_ERROR
    assert "no_such_label" in capsys.readouterr().err
