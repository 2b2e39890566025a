"""The model shipped in classifier/model: complete, meets the quality bar, works end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from classifier import CATEGORIES, Classifier, load
from classifier.artifact import METADATA_FILE, REPORT_FILE, has_model, shipped_model_dir

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not has_model(shipped_model_dir()),
                                reason="no trained model in classifier/model")


@pytest.fixture(scope="module")
def shipped() -> Classifier:
    return load()


def test_metadata_records_quality_and_threshold() -> None:
    meta = json.loads((shipped_model_dir() / METADATA_FILE).read_text("utf-8"))
    assert meta["labels"] == list(CATEGORIES)
    assert meta["metrics"]["heldout_macro_f1"] >= 0.90
    assert min(meta["metrics"]["heldout_recall"].values()) >= 0.85
    details = meta["threshold_details"]
    assert details["value"] == meta["threshold"]
    assert details["out_of_fold"]["precision"] >= 0.95
    report = json.loads((shipped_model_dir() / REPORT_FILE).read_text("utf-8"))
    assert report["quality"]["failures"] == []


@pytest.mark.parametrize(("text", "label"), [
    ("孩子每天作业写到晚上十一点，还要家长批改签字", "homework_burden"),
    ("小区里有人周末偷偷办数学补习班，没有办学许可证", "unlicensed_tutoring"),
    ("培训机构关门跑路了，预交的一万多学费退不回来", "fees_refund"),
    ("班主任周末在家给学生有偿补课，一节课两百元", "teacher_paid_tutoring"),
    ("學校課後服務強制參加，不報名要寫說明", "after_school_service"),
    ("学校食堂的饭菜不卫生，孩子吃了拉肚子", "other"),
])
def test_obvious_tips(shipped: Classifier, text: str, label: str) -> None:
    assert shipped.predict(text).category == label


def test_cli_module_classifies_with_the_shipped_model() -> None:
    lines = [json.dumps({"id": 1, "text": "机构不退费"}, ensure_ascii=False), "{bad"]
    done = subprocess.run([sys.executable, "-m", "bot.cli", "classify"],
                          input="\n".join(lines) + "\n", capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=True)
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["id"] == 1 and first["category"] == "fees_refund"
    assert second == {"id": None, "line": 2, "error": second["error"]} and second["error"]
