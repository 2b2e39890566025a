"""The on-disk model artifact: a directory with the pipeline, user dictionary and metadata."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

MODEL_FILE = "model.skops"  # the scikit-learn pipeline (canonical, loaded with skops)
RUNTIME_FILE = "weights.json"  # the same model compiled to arrays, used to predict
USER_DICT_FILE = "userdict.txt"
METADATA_FILE = "metadata.json"
REPORT_FILE = "report.json"
FORMAT_VERSION = 1

# Types skops may rebuild when loading a model. Anything else in a model file is refused:
# a model file is code-adjacent input and must not be able to construct arbitrary objects.
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.calibration._TemperatureScaling",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.model_selection._split.StratifiedKFold",
    "numpy.float32",
    "numpy.float64",
    "numpy.int64",
    "numpy.ndarray",
)


class ArtifactError(Exception):
    """A model directory is missing, incomplete or holds something we refuse to load."""


def shipped_model_dir() -> Path:
    """Return the directory of the model shipped inside the package."""
    return Path(str(resources.files("classifier.model")))


def resolve_dir(path: str | Path | None) -> Path:
    """Map a user-given model path (directory or model file, None = shipped) to a directory."""
    if path is None or str(path) == "":
        return shipped_model_dir()
    candidate = Path(path)
    return candidate.parent if candidate.is_file() else candidate


def has_model(directory: Path) -> bool:
    """Tell whether `directory` holds a complete artifact."""
    return all((directory / name).is_file()
               for name in (MODEL_FILE, RUNTIME_FILE, USER_DICT_FILE, METADATA_FILE))


def load_pipeline(directory: Path) -> Any:
    """Load the fitted pipeline safely, refusing types outside TRUSTED_TYPES."""
    import skops.io as sio

    model_path = directory / MODEL_FILE
    if not model_path.is_file():
        raise ArtifactError(f"no {MODEL_FILE} in {directory}")
    unknown = sorted(set(sio.get_untrusted_types(file=model_path)) - set(TRUSTED_TYPES))
    if unknown:
        raise ArtifactError(f"{model_path} contains untrusted types: {', '.join(unknown)}")
    return sio.load(model_path, trusted=list(TRUSTED_TYPES))


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object from `path`."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"{path} is not a JSON object")
    return data


def _replace_file(target: Path, write: Callable[[Path], object]) -> None:
    """Write a file beside `target` and move it into place, so readers never see half a file."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the artifact is ordinary readable data
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as pretty UTF-8 JSON, atomically."""
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
    _replace_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_artifact(directory: Path, pipeline: Any, write_runtime: Callable[[Path], None],
                  write_user_dict: Callable[[Path], None], metadata: dict[str, Any],
                  report: dict[str, Any]) -> None:
    """Write all artifact files; metadata goes last, so it only ever describes a full model."""
    import skops.io as sio

    directory.mkdir(parents=True, exist_ok=True)
    _replace_file(directory / USER_DICT_FILE, write_user_dict)
    _replace_file(directory / RUNTIME_FILE, write_runtime)
    _replace_file(directory / MODEL_FILE,
                  lambda tmp: sio.dump(pipeline, tmp, compression=zipfile.ZIP_DEFLATED,
                                           compresslevel=9))
    write_json(directory / REPORT_FILE, report)
    write_json(directory / METADATA_FILE, {"format_version": FORMAT_VERSION, **metadata})
