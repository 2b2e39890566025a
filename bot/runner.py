"""`dudao run`: prepare the database, directory and model, then serve Telegram."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from bot.bootstrap import directory_files, open_container, safe_url
from bot.config import ConfigError, DirectorySettings, Settings
from bot.messages import t

log = logging.getLogger(__name__)


async def import_configured_directory(settings: Settings) -> tuple[int, int, int]:
    """Migrate, import the configured directory files (idempotent upsert), count them."""
    from bot.directory.files import read_directory_files
    from bot.directory.service import import_directory

    paths = configured_directory_paths(settings)
    async with open_container(settings) as container:
        files = directory_files(paths)
        if files:
            report = await import_directory(container.uow, read_directory_files(files))
            for line in report.lines():
                log.info("directory: %s", line)
        async with container.uow.read() as uow:
            return await uow.directory.counts()


def configured_directory_paths(settings: Settings) -> list[str]:
    """The configured directory paths that exist; a missing one is a configuration error.

    Only the default (the sample shipped in the source tree) may be absent, e.g. when dudao
    is installed from a wheel: then it is skipped with a log line.
    """
    default = DirectorySettings().import_on_start
    paths = []
    for raw in settings.directory.import_on_start:
        if Path(raw).exists():
            paths.append(raw)
        elif raw in default:
            log.info("directory: the sample %s is not installed; nothing imported from it", raw)
        else:
            raise ConfigError(t("startup.directory_missing", path=raw))
    return paths


def prepare(settings: Settings) -> object:
    """Migrate, import the configured directory, load the model, and report what is ready."""
    from bot.cli_classifier import trained_model_dir
    from classifier import load
    from classifier.artifact import shipped_model_dir
    from classifier.versions import ReloadingClassifier

    schools, institutions, people = asyncio.run(import_configured_directory(settings))
    # The served model follows CURRENT under the model path: a retrained (or rolled back)
    # version is picked up without a restart; until one exists, the shipped model.
    classifier = ReloadingClassifier(
        trained_model_dir(settings), load, fallback=shipped_model_dir(),
        on_error=lambda exc: log.error("new model version not loaded: %s", exc))
    threshold = settings.classifier.threshold
    print(t("cli.run.ready", url=safe_url(settings.database.url), schools=schools,
            institutions=institutions, people=people, model=classifier.model_version,
            threshold=threshold if threshold is not None else classifier.threshold))
    if schools == 0 or people == 0:
        print(t("startup.empty_directory", schools=schools, people=people), file=sys.stderr)
    return classifier


def run(settings: Settings, *, interactive: bool | None = None) -> int:
    """Run dudao; without a token, open the terminal sandbox (or explain, if not a terminal)."""
    sandbox = not settings.telegram.token and (
        interactive if interactive is not None else sys.stdin.isatty())
    classifier = _prepare_for_sandbox(settings) if sandbox else prepare(settings)
    if not settings.telegram.token:
        print(t("cli.run.no_token"))
        print(t("cli.run.how_to_token"))
        if sandbox:
            return try_sandbox(settings, classifier)
        print(t("cli.run.sandbox_hint"))
        return 0
    from handlers.telegram.app import serve

    return int(serve(settings, classifier))


def try_sandbox(settings: Settings, classifier: object | None = None) -> int:
    """Chat with the bot in the terminal through a local Bot API server."""
    from handlers.sandbox import run_sandbox

    if classifier is None:
        classifier = _prepare_for_sandbox(settings)
    return asyncio.run(run_sandbox(settings, classifier))


def _prepare_for_sandbox(settings: Settings) -> object:
    """Prepare with the log lines (directory import, model) going to the sandbox's log file,
    so the terminal shows only the chat."""
    from handlers.sandbox import SANDBOX_LOG, logs_to_file

    with logs_to_file(SANDBOX_LOG):
        return prepare(settings)
