"""Retraining on its own: the gate refuses a bad batch of corrections with the reason, and a
good batch is installed as a new version the running predictor serves without a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier import load
from classifier.features import PipelineConfig
from classifier.retrain import retrain
from classifier.training import read_corpus
from classifier.versions import ReloadingClassifier, current_version, list_versions, rollback
from tests.support.classifier import SUBJECTS, write_corpus

QUICK = PipelineConfig(model="logreg", c=10.0)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def served(tmp_path: Path, corpus_dir: Path) -> tuple[Path, str]:
    """A model path with one installed version (the first retraining has nothing to beat)."""
    model_path = tmp_path / "model"
    first = retrain(corpus_dir, model_path, [], config=QUICK)
    assert first.installed and first.old_version is None
    return model_path, first.version


def test_a_bad_batch_of_corrections_is_refused_with_the_reason(served: tuple[Path, str],
                                                               corpus_dir: Path) -> None:
    model_path, version = served
    corpus = read_corpus(corpus_dir)
    homework = [text for text, label in corpus.train if label == "homework_burden"]
    bad = [(text, "fees_refund") for text in homework[:-4]]  # most homework relabelled
    outcome = retrain(corpus_dir, model_path, bad, config=QUICK)
    assert not outcome.installed
    assert outcome.old_version == version and outcome.corrections == len(bad)
    codes = {f.code for f in outcome.gate.failures}
    assert "recall_dropped" in codes
    [recall] = [f for f in outcome.gate.failures if f.code == "recall_dropped"
                and f.fields["label"] == "homework_burden"]
    assert recall.fields["new"] < recall.fields["old"] - 0.02
    assert current_version(model_path) == version  # the old model stays
    assert [v.version for v in list_versions(model_path)] == [version]


def test_a_good_batch_is_installed_and_served_without_a_restart(served: tuple[Path, str],
                                                                corpus_dir: Path) -> None:
    model_path, version = served
    serving = ReloadingClassifier(model_path, load, interval=3600.0)
    serving.add_words(["城关一小"])
    phrase = "学校门口的奶茶店太吵"
    assert serving.model_version == version
    good = [(f"{subject}反映{phrase}{i}", "other") for i, subject in enumerate(SUBJECTS * 2)]
    outcome = retrain(corpus_dir, model_path, good, config=QUICK)
    assert outcome.installed, outcome.gate.failures
    assert current_version(model_path) == outcome.version != version
    # The bot's predictor notices CURRENT changed (it looks at most once a second; the
    # retraining service tells it to look at once) and serves the new version.
    assert serving.check(force=True)
    prediction = serving.predict(f"家长反映{phrase}")
    assert prediction.model_version == outcome.version and prediction.category == "other"
    assert "城关一小" in serving.model.tokenizer.user_words  # directory words carried over
    # Rolling back is the same swap.
    rollback(model_path, version)
    assert serving.check(force=True) and serving.predict("作业太多").model_version == version
