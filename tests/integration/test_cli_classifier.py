"""`dudao classify` and `dudao train` as the operator runs them: JSON Lines with entities,
the configured directory, the rendered Chinese report, error messages from the catalogue."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.cli_classifier import (
    EXIT_ERROR,
    EXIT_KEPT_OLD,
    EXIT_OK,
    add_classify_arguments,
    add_train_arguments,
    render_event,
    run_classify,
    run_train,
)
from bot.messages import CATALOGUE
from classifier.artifact import has_model, shipped_model_dir
from classifier.batch import LineError
from classifier.features import PipelineConfig
from classifier.training import (
    Candidate,
    CandidateScored,
    ClassCounts,
    ConfigChosen,
    CorpusRead,
    Fitting,
    ScoringOldModel,
    Searching,
    Tokenizing,
    TrainingErrorCode,
)
from classifier.versions import current_dir
from tests.support.classifier import write_corpus

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not has_model(shipped_model_dir()),
                                reason="no shipped model (run `dudao train`)")


def _line(ident: Any, text: str) -> str:
    return json.dumps({"id": ident, "text": text}, ensure_ascii=False)


def _classify(lines: list[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    parser = argparse.ArgumentParser()
    add_classify_arguments(parser)
    out = io.StringIO()
    code = run_classify(parser.parse_args(list(argv)),
                        io.StringIO("".join(line + "\n" for line in lines)), out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


# --- dudao classify ------------------------------------------------------------------------


def test_classify_command_names_the_entity_of_each_tip() -> None:
    lines = [_line(1, "城关一小的作业太多了，每天写到晚上十一点"),  # a school's alias
             _line(2, "青溪县启明星文化培训学校周末偷偷上数学课"),  # an institution
             _line(3, "石门镇有人在民房里办无证培训班"),  # only the township
             _line(4, "孩子学校的课后服务强制参加"),  # nothing named
             _line(5, "城关镇的育才中学老师在家有偿补课"),  # a school and its township
             _line(6, "青溪县智学堂课外辅导在东湖街道一个小区里开班"),  # institution 在 place
             _line(7, "睿思一对一在城关镇租了民房上课"),
             "{bad"]
    done = subprocess.run([sys.executable, "-m", "bot.cli", "classify"],
                          input="\n".join(lines) + "\n", capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["id"] for r in records] == [1, 2, 3, 4, 5, 6, 7, None]
    assert [r.get("entity") for r in records[:5]] == [
        {"kind": "school", "code": "QX-S001", "name": "青溪县城关第一小学"},
        {"kind": "institution", "code": "QX-J001", "name": "青溪县启明星文化培训学校"},
        {"kind": "district", "code": "QX-SM", "name": "石门镇"},
        None,
        {"kind": "school", "code": "QX-S009", "name": "育才初级中学"},
    ]
    assert [r["entity"]["code"] for r in records[5:7]] == ["QX-J018", "QX-J019"]
    assert [r["category"] for r in records[:5]] == [
        "homework_burden", "unlicensed_tutoring", "unlicensed_tutoring",
        "after_school_service", "teacher_paid_tutoring"]
    assert records[7] == {"id": None, "line": 8, "error": CATALOGUE["classifier.error.not_json"]}


def test_classify_resolves_against_the_configured_directory(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str],
                                                            ) -> None:
    folder = tmp_path / "directory"
    folder.mkdir()
    (folder / "districts.csv").write_text("code,name,kind\nD9,松林镇,乡镇\n", "utf-8")
    (folder / "schools.csv").write_text(
        "code,name,district_code,aliases\nS9,松林镇中心小学,D9,松林中心校\n", "utf-8")
    config = tmp_path / "dudao.toml"
    config.write_text(f'[directory]\nimport_on_start = ["{folder.as_posix()}"]\n', "utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO(
        _line("a", "松林中心校的作业太多了") + "\n" + _line("b", "城关一小的作业太多了") + "\n"))
    assert cli.main(["classify", "--config", str(config)]) == EXIT_OK
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["entity"] == {"kind": "school", "code": "S9", "name": "松林镇中心小学"}
    assert second["entity"] is None  # the sample directory is not the configured one


def test_classify_reports_an_unreadable_directory(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "schools.csv").write_text("code,name\nS1,\n", "utf-8")
    config = tmp_path / "dudao.toml"
    config.write_text(f'[directory]\nimport_on_start = ["{tmp_path.as_posix()}"]\n', "utf-8")
    code, records = _classify([_line(1, "作业太多")], "--config", str(config))
    assert code == EXIT_ERROR and records == []
    assert "名录" in capsys.readouterr().err


def test_classify_good_and_bad_lines() -> None:
    lines = [
        _line("a", "班主任在家有偿补课"),
        "this is not json",
        "[1, 2, 3]",
        json.dumps({"id": 4, "text": ""}),
        json.dumps({"id": 5, "text": 42}),
        json.dumps({"id": 6}),
        _line(7, "課後服務強制參加"),
        "",  # blank: skipped, but still counted as line 8
        _line(None, "机构跑路了，学费不退"),
    ]
    code, records = _classify(lines, "--batch-size", "2")
    assert code == EXIT_OK
    assert [r.get("id") for r in records] == ["a", None, None, 4, 5, 6, 7, None]
    errors = {r["line"]: r["error"] for r in records if "error" in r}
    assert errors == {2: CATALOGUE["classifier.error.not_json"],
                      3: CATALOGUE["classifier.error.not_object"],
                      4: CATALOGUE["classifier.error.missing_text"],
                      5: CATALOGUE["classifier.error.text_not_string"],
                      6: CATALOGUE["classifier.error.missing_text"]}
    good = [r for r in records if "error" not in r]
    assert [r["category"] for r in good] == [
        "teacher_paid_tutoring", "after_school_service", "fees_refund"]
    for record in good:
        assert set(record) == {"id", "category", "confidence", "top_k", "model_version",
                               "entity"}
        assert 0.0 <= record["confidence"] <= 1.0
        assert record["top_k"][0] == [record["category"], record["confidence"]]
        assert record["model_version"]


def test_classify_writes_chinese_unescaped() -> None:
    parser = argparse.ArgumentParser()
    add_classify_arguments(parser)
    out = io.StringIO()
    run_classify(parser.parse_args([]), io.StringIO("oops\n" + _line(1, "城关一小作业多") + "\n"),
                 out)
    assert "\\u" not in out.getvalue() and "JSON" in out.getvalue()
    assert "城关第一小学" in out.getvalue()


def test_classify_batch_size_does_not_change_results() -> None:
    lines = [_line(i, tip) for i, tip in enumerate(
        ("机构不退费", "城关一小作业太多", "石门镇有培训班", "老师有偿补课", "食堂不卫生"))]
    assert _classify([*lines, "{"], "--batch-size", "1") == _classify(
        [*lines, "{"], "--batch-size", "100")


def test_classify_reports_a_missing_model(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, records = _classify([], "--model", str(tmp_path))
    assert code == EXIT_ERROR and records == []
    assert "无法加载模型" in capsys.readouterr().err


# --- dudao train ---------------------------------------------------------------------------


def _train_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    return parser.parse_args(list(argv))


def test_train_reports_a_missing_corpus(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    args = _train_args("--corpus", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m"))
    assert run_train(args) == EXIT_ERROR
    assert capsys.readouterr().err.strip() == CATALOGUE["classifier.error.no_corpus"].format(
        path=tmp_path / "nowhere")
    assert not (tmp_path / "m").exists()


def test_train_prints_progress_report_and_decision(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    out = tmp_path / "model"
    args = _train_args("--corpus", str(corpus), "--out", str(out), "--no-search", "--jobs", "1")
    assert run_train(args, [("老师补课", "no_such_label")]) == EXIT_ERROR
    assert "no_such_label" in capsys.readouterr().err

    assert run_train(args) == EXIT_OK
    first = capsys.readouterr().out
    for needle in ("语料：训练集", "作业负担（homework_burden）", "交叉验证比较 1 种", "选用：",
                   "留出集评估", "置信度阈值", "输出目录中还没有模型", "模型已保存到"):
        assert needle in first, needle
    assert first.index("选用：") < first.index("留出集评估") < first.index("模型已保存到")

    homework = (corpus / "train" / "homework_burden.txt").read_text("utf-8").split()
    wrong = [(text, "fees_refund") for text in homework[:-4]]
    assert run_train(args, wrong) == EXIT_KEPT_OLD
    second = capsys.readouterr().out
    assert "在同一留出集上评估现有模型" in second and "与现有模型比较" in second
    assert CATALOGUE["classifier.train.kept_old"] in second and "模型已保存到" not in second


def test_every_code_and_event_has_chinese_text() -> None:
    keys = [f"classifier.error.{code}" for code in (*TrainingErrorCode, *LineError)]
    assert [key for key in keys if key not in CATALOGUE] == []
    candidate = Candidate(PipelineConfig(model="logreg", c=1.0), 0.9, 0.01, 0.3)
    events = [CorpusRead(1, 1, 0, 0, (ClassCounts("other", 1, 1),)), Tokenizing(2),
              Searching(5, 1), CandidateScored(candidate), ConfigChosen(candidate), Fitting(),
              ScoringOldModel(Path("m"))]
    for event in events:
        lines = render_event(event)
        assert lines and all(any("\u4e00" <= ch <= "\u9fff" for ch in line) for line in lines)


def test_classify_skips_blank_lines_and_keeps_line_numbers() -> None:
    code, records = _classify(["", _line(1, "城关一小作业太多"), "   ", "\t", "oops", ""])
    assert code == 0
    assert len(records) == 2 and records[0]["id"] == 1
    assert records[1]["line"] == 5 and "error" in records[1]  # numbered as in the input


# --- where `dudao train` writes, and what `run`/`classify` then load -----------------------


def _shipped_state() -> dict[str, float]:
    return {p.name: p.stat().st_mtime for p in shipped_model_dir().iterdir()}


def test_train_writes_var_model_by_default_never_the_shipped_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli_classifier import model_to_load
    from bot.config import load_settings

    monkeypatch.chdir(tmp_path)
    shipped = _shipped_state()
    corpus = write_corpus(tmp_path / "corpus")
    settings = load_settings()
    assert model_to_load(settings) is None  # nothing trained yet: the shipped model
    args = _train_args("--corpus", str(corpus), "--no-search", "--jobs", "1")
    assert run_train(args, settings=settings) == EXIT_OK
    # The configured model path holds versions; CURRENT names the one in use.
    current = current_dir(Path("var") / "model")
    assert current is not None and has_model(current) and _shipped_state() == shipped
    assert current.parent == Path("var") / "model" / "versions"
    captured = capsys.readouterr()
    assert f"模型已保存到 {current}" in captured.out
    # tqdm's bar on stderr, with the steps and an estimate of the time left.
    assert "第 3/3 步" in captured.err and "预计还需" in captured.err
    assert "训练完成：100%" in captured.err
    assert model_to_load(settings) == current

    # `dudao classify` (and `dudao run`, through the same function) now use the trained model.
    version = json.loads((tmp_path / current / "metadata.json").read_text("utf-8"))
    code, records = _classify([_line(1, "作业太多")])
    assert code == EXIT_OK and records[0]["model_version"] == version["model_version"]


def test_train_writes_the_configured_model_path(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from bot.config import load_settings

    shipped = _shipped_state()
    target = tmp_path / "models" / "county"
    settings = load_settings(classifier={"model_path": str(target)})
    args = _train_args("--corpus", str(write_corpus(tmp_path / "corpus")), "--no-search",
                       "--jobs", "1")
    assert run_train(args, settings=settings) == EXIT_OK
    installed = current_dir(target)
    assert installed is not None and has_model(installed) and _shipped_state() == shipped
    assert f"模型已保存到 {installed}" in capsys.readouterr().out
    # `dudao model list` shows it as current; a second training is a second version, and
    # `dudao model rollback` goes back to the first.
    assert run_train(args, settings=settings) == EXIT_OK
    second = current_dir(target)
    assert second is not None and second != installed
    capsys.readouterr()
    config = tmp_path / "dudao.toml"
    config.write_text(f'[classifier]\nmodel_path = "{target.as_posix()}"\n', "utf-8")
    assert cli.main(["model", "list", "--config", str(config)]) == EXIT_OK
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith(f"* {second.name}") and installed.name in listed[1]
    assert cli.main(["model", "rollback", installed.name, "--config", str(config)]) == EXIT_OK
    assert current_dir(target) == installed
    assert cli.main(["model", "rollback", "nope", "--config", str(config)]) == EXIT_ERROR
    assert "dudao model list" in capsys.readouterr().err


def test_train_refuses_to_write_into_an_installed_package(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import bot.cli_classifier

    monkeypatch.setattr(bot.cli_classifier, "PROJECT_ROOT", tmp_path)  # not a source checkout
    shipped = _shipped_state()
    args = _train_args("--corpus", str(write_corpus(tmp_path / "corpus")),
                       "--out", str(shipped_model_dir()))
    assert run_train(args) == EXIT_ERROR
    assert "不能把模型写进已安装的 dudao 程序包" in capsys.readouterr().err
    assert _shipped_state() == shipped


def test_a_configured_path_without_a_model_falls_back_to_the_shipped_one(tmp_path: Path) -> None:
    from bot.cli_classifier import model_to_load
    from bot.config import load_settings

    settings = load_settings(classifier={"model_path": str(tmp_path / "empty")})
    assert model_to_load(settings) is None
    code, records = _classify([_line(1, "作业太多")])
    assert code == EXIT_OK and records[0]["category"]
