"""Model versions under the model path: install, list, rollback, prune, and the reloading
predictor that follows CURRENT; and the gate's rules on stand-in models."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from classifier import artifact
from classifier.retrain import gate
from classifier.versions import (
    ReloadingClassifier,
    VersionError,
    current_dir,
    current_version,
    install,
    list_versions,
    rollback,
)


def fake_save(version: str, f1: float = 0.9) -> Any:
    def save(directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name in (artifact.MODEL_FILE, artifact.RUNTIME_FILE, artifact.USER_DICT_FILE):
            (directory / name).write_text(version, "utf-8")
        (directory / artifact.METADATA_FILE).write_text(json.dumps({
            "model_version": version, "created": version,
            "metrics": {"heldout_macro_f1": f1}}), "utf-8")
    return save


@dataclass
class FakeModel:
    model_version: str
    threshold: float = 0.5

    def __post_init__(self) -> None:
        self.words: list[str] = []

    def add_words(self, words: Any) -> int:
        self.words += list(words)
        return len(self.words)

    def predict(self, text: str) -> Any:
        return self.model_version


def loader(directory: Path) -> FakeModel:
    return FakeModel(json.loads((directory / artifact.METADATA_FILE).read_text())
                     ["model_version"])


def test_install_list_rollback_and_prune(tmp_path: Path) -> None:
    for version in ("v1", "v2", "v3"):
        install(tmp_path, version, fake_save(version), keep=2)
    assert current_version(tmp_path) == "v3"
    assert [(v.version, v.current) for v in list_versions(tmp_path)] == [("v3", True),
                                                                         ("v2", False)]
    rollback(tmp_path, "v2")
    assert current_dir(tmp_path) == tmp_path / "versions" / "v2"
    for bad in ("v1", "../v3", ""):
        with pytest.raises(VersionError):
            rollback(tmp_path, bad)
    assert current_version(tmp_path) == "v2"


def test_a_flat_model_is_adopted_as_the_current_version(tmp_path: Path) -> None:
    fake_save("old")(tmp_path)  # what `dudao train` wrote before versions existed
    assert current_dir(tmp_path) == tmp_path
    install(tmp_path, "new", fake_save("new"))
    assert {v.version for v in list_versions(tmp_path)} == {"old", "new"}
    rollback(tmp_path, "old")
    assert loader(current_dir(tmp_path) or tmp_path).model_version == "old"


def test_the_reloading_predictor_follows_current(tmp_path: Path) -> None:
    install(tmp_path, "v1", fake_save("v1"))
    serving = ReloadingClassifier(tmp_path, loader, interval=3600.0)
    serving.add_words(["城关一小"])
    assert serving.predict("x") == "v1"
    install(tmp_path, "v2", fake_save("v2"))
    assert serving.predict("x") == "v1"  # not looked yet (interval)
    assert serving.check(force=True)
    assert serving.predict("x") == "v2" and serving.model.words == ["城关一小"]
    assert not serving.check(force=True)  # nothing new


def test_a_version_that_fails_to_load_keeps_the_old_one(tmp_path: Path) -> None:
    install(tmp_path, "v1", fake_save("v1"))
    errors: list[Exception] = []

    def picky(directory: Path) -> FakeModel:
        if directory.name == "v2":
            raise ValueError("broken")
        return loader(directory)

    serving = ReloadingClassifier(tmp_path, picky, on_error=errors.append)
    install(tmp_path, "v2", fake_save("v2"))
    assert not serving.check(force=True)
    assert serving.predict("x") == "v1" and len(errors) == 1


def test_without_a_version_the_fallback_is_served(tmp_path: Path) -> None:
    shipped = tmp_path / "shipped"
    fake_save("shipped")(shipped)
    serving = ReloadingClassifier(tmp_path / "model", loader, fallback=shipped)
    assert serving.model_version == "shipped"


# --- the gate ------------------------------------------------------------------------------


@dataclass(frozen=True)
class P:
    category: str
    confidence: float


class Answers:
    """A stand-in model answering from a table."""

    def __init__(self, answers: dict[str, tuple[str, float]], threshold: float = 0.5) -> None:
        self.answers = answers
        self.threshold = threshold

    def predict_many(self, texts: list[str]) -> list[P]:
        return [P(*self.answers[t]) for t in texts]


FROZEN = [(f"h{i}", "homework_burden") for i in range(50)] + \
         [(f"o{i}", "other") for i in range(50)]
PERFECT = {t: (label, 0.99) for t, label in FROZEN}


def test_the_gate_passes_an_equal_model() -> None:
    result = gate(Answers(PERFECT), Answers(PERFECT), FROZEN)
    assert result.passed and result.new.precision_at_threshold == 1.0


def test_the_gate_refuses_a_recall_drop_and_names_the_category() -> None:
    worse = dict(PERFECT) | {f"h{i}": ("other", 0.4) for i in range(2)}  # recall 0.96
    result = gate(Answers(worse), Answers(PERFECT), FROZEN)
    codes = [(f.code, f.fields.get("label")) for f in result.failures]
    assert ("recall_dropped", "homework_burden") in codes
    assert ("macro_f1_dropped", None) in codes


def test_the_gate_allows_a_small_recall_drop_if_f1_holds() -> None:
    old = dict(PERFECT) | {"o0": ("homework_burden", 0.4)}
    new = dict(PERFECT) | {"h0": ("other", 0.4)}  # homework recall -2 points, other +2
    result = gate(Answers(new), Answers(old), FROZEN)
    assert result.passed, result.failures


def test_the_gate_refuses_low_precision_at_the_threshold() -> None:
    sloppy = dict(PERFECT) | {f"h{i}": ("other", 0.9) for i in range(6)}
    result = gate(Answers(sloppy), None, FROZEN)
    [failure] = result.failures
    assert failure.code == "precision_low" and failure.fields["precision"] == 0.94
