"""Model versions kept under the configured model path, one of them current.

Layout::

    <model_path>/
      CURRENT                 the current version's name (one line), replaced atomically
      versions/<version>/     one complete artifact per version (metadata.json last)

A model path without CURRENT that holds an artifact itself (what `dudao train` wrote before
versions existed) is read as one unnamed current version. Installing writes the new version's
directory completely, then swaps CURRENT with os.replace, so a reader sees the old model or
the new one, never half of one. `ReloadingClassifier` checks CURRENT (at most once a second)
and loads the new version when it changed: the running bot serves an installed model, or a
rollback, without a restart.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classifier import artifact

CURRENT_FILE = "CURRENT"
LAST_RETRAIN_FILE = "LAST_RETRAIN"  # when retraining was last attempted (ISO 8601 UTC)
VERSIONS_DIR = "versions"
DEFAULT_KEEP = 5
CHECK_INTERVAL = 1.0  # seconds between looks at CURRENT


class VersionError(Exception):
    """A version that does not exist or is incomplete."""


@dataclass(frozen=True)
class VersionInfo:
    version: str
    created: str
    heldout_macro_f1: float | None
    current: bool


def current_dir(model_path: Path) -> Path | None:
    """The directory of the current model under `model_path`, or None if there is none."""
    marker = model_path / CURRENT_FILE
    if marker.is_file():
        name = marker.read_text("utf-8").strip()
        directory = model_path / VERSIONS_DIR / name
        return directory if name and artifact.has_model(directory) else None
    return model_path if artifact.has_model(model_path) else None


def current_version(model_path: Path) -> str | None:
    """The name in CURRENT (None without one)."""
    marker = model_path / CURRENT_FILE
    if not marker.is_file():
        return None
    return marker.read_text("utf-8").strip() or None


def _write_current(model_path: Path, version: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".CURRENT.", dir=model_path)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(version + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, model_path / CURRENT_FILE)


def last_retrain(model_path: Path) -> datetime | None:
    """When retraining was last attempted under `model_path` (None: never, or unreadable)."""
    try:
        stamp = datetime.fromisoformat((model_path / LAST_RETRAIN_FILE).read_text("utf-8")
                                       .strip())
    except (OSError, ValueError):
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def record_retrain(model_path: Path, at: datetime) -> None:
    """Remember a retraining attempt (installed or refused), so a restart does not repeat it."""
    model_path.mkdir(parents=True, exist_ok=True)
    (model_path / LAST_RETRAIN_FILE).write_text(at.astimezone(UTC).isoformat() + "\n",
                                                "utf-8")


def version_dir(model_path: Path, version: str) -> Path:
    """Where `version` lives (refuses names that would leave the versions folder)."""
    if not version or "/" in version or "\\" in version or version.startswith("."):
        raise VersionError(version)
    return model_path / VERSIONS_DIR / version


def unused_name(model_path: Path, version: str) -> str:
    """`version`, or `version-2`, `-3`, ... when a version by that name is already stored
    (two trainings on the same data within one second)."""
    name, n = version, 1
    while version_dir(model_path, name).exists():
        n += 1
        name = f"{version}-{n}"
    return name


def install(model_path: Path, version: str, save: Callable[[Path], None],
            keep: int = DEFAULT_KEEP) -> Path:
    """Write a new version with `save(directory)`, make it current, prune old versions."""
    model_path.mkdir(parents=True, exist_ok=True)
    _adopt_legacy(model_path)
    target = version_dir(model_path, version)
    save(target)
    if not artifact.has_model(target):
        raise VersionError(version)
    _write_current(model_path, version)
    prune(model_path, keep)
    return target


def _adopt_legacy(model_path: Path) -> None:
    """Move a flat artifact (written before versions existed) into versions/, as current."""
    if (model_path / CURRENT_FILE).exists() or not artifact.has_model(model_path):
        return
    name = str(artifact.read_json(model_path / artifact.METADATA_FILE).get("model_version")
               or "legacy")
    target = version_dir(model_path, name)
    target.mkdir(parents=True, exist_ok=True)
    for entry in (artifact.MODEL_FILE, artifact.RUNTIME_FILE, artifact.USER_DICT_FILE,
                  artifact.REPORT_FILE, artifact.METADATA_FILE):
        source = model_path / entry
        if source.is_file():
            shutil.copy2(source, target / entry)
    _write_current(model_path, name)
    for entry in (artifact.METADATA_FILE, artifact.MODEL_FILE, artifact.RUNTIME_FILE,
                  artifact.USER_DICT_FILE, artifact.REPORT_FILE):
        (model_path / entry).unlink(missing_ok=True)


def list_versions(model_path: Path) -> list[VersionInfo]:
    """Every complete version, newest first, marking the current one."""
    _adopt_legacy(model_path)
    current = current_version(model_path)
    found: list[VersionInfo] = []
    root = model_path / VERSIONS_DIR
    for directory in sorted(root.iterdir() if root.is_dir() else (), reverse=True):
        if not artifact.has_model(directory):
            continue
        meta = artifact.read_json(directory / artifact.METADATA_FILE)
        f1 = meta.get("metrics", {}).get("heldout_macro_f1")
        found.append(VersionInfo(directory.name, str(meta.get("created", "")),
                                 float(f1) if f1 is not None else None,
                                 directory.name == current))
    return found


def rollback(model_path: Path, version: str) -> None:
    """Make a kept version current again."""
    _adopt_legacy(model_path)
    if not artifact.has_model(version_dir(model_path, version)):
        raise VersionError(version)
    _write_current(model_path, version)


def prune(model_path: Path, keep: int = DEFAULT_KEEP) -> list[str]:
    """Delete all but the newest `keep` versions (never the current one)."""
    current = current_version(model_path)
    versions = [v.version for v in list_versions(model_path)]
    removed = [v for v in versions[max(1, keep):] if v != current]
    for name in removed:
        shutil.rmtree(version_dir(model_path, name), ignore_errors=True)
    return removed


class ReloadingClassifier:
    """A classifier that follows CURRENT under a model path (the bot's predictor).

    It forwards everything to the loaded model; before a prediction it looks at CURRENT at
    most once per `interval` seconds and, when it changed, loads that version, adds the
    directory words the old one had been given, and swaps it in. A version that fails to
    load is logged by the caller's logger and the old model stays.
    """

    def __init__(self, model_path: Path, loader: Callable[[Path], Any],
                 interval: float = CHECK_INTERVAL,
                 on_error: Callable[[Exception], None] | None = None,
                 fallback: Path | None = None) -> None:
        self.model_path = model_path
        self._loader = loader
        self._interval = interval
        self._on_error = on_error
        self._lock = threading.Lock()
        self._words: list[str] = []
        self._word_set: set[str] = set()
        self._seen = current_version(model_path)
        directory = current_dir(model_path) or fallback
        if directory is None:
            raise artifact.ArtifactError(f"no complete model in {model_path}")
        self._model = loader(directory)
        self._checked = time.monotonic()

    @property
    def model(self) -> Any:
        return self._model

    def check(self, force: bool = False) -> bool:
        """Load the current version if CURRENT changed; True if a new model was swapped in."""
        now = time.monotonic()
        if not force and now - self._checked < self._interval:
            return False
        self._checked = now
        seen = current_version(self.model_path)
        if seen == self._seen:
            return False
        with self._lock:
            if seen == self._seen:
                return False
            directory = current_dir(self.model_path)
            if directory is None:
                return False
            try:
                fresh = self._loader(directory)
                if self._words:
                    fresh.add_words(self._words)
            except Exception as exc:  # keep serving the old model
                self._seen = seen
                if self._on_error is not None:
                    self._on_error(exc)
                return False
            self._model, self._seen = fresh, seen
            return True

    # --- the Classifier interface the bot uses ---------------------------------------------
    def __getattr__(self, name: str) -> Any:
        """Anything else (metadata, labels, probabilities …) is the served model's."""
        model = self.__dict__.get("_model")
        if model is None:
            raise AttributeError(name)
        return getattr(model, name)

    @property
    def threshold(self) -> float:
        return float(self._model.threshold)

    @property
    def model_version(self) -> str:
        return str(self._model.model_version)

    def add_words(self, words: Iterable[str]) -> int:
        words = [w for w in words if w not in self._word_set]
        self._word_set.update(words)
        self._words.extend(words)
        return int(self._model.add_words(words))

    def predict(self, text: str) -> Any:
        self.check()
        return self._model.predict(text)

    def predict_many(self, texts: Sequence[str]) -> Any:
        self.check()
        return self._model.predict_many(texts)


__all__ = ["ReloadingClassifier", "VersionError", "VersionInfo", "current_dir", "install",
           "list_versions", "prune", "rollback"]
