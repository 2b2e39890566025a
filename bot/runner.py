"""`dudao run`: prepare the database, directory and model, then serve Telegram."""

from __future__ import annotations

import asyncio
import logging
import sys

from sqlalchemy import func, select

from bot.bootstrap import build, directory_files, migrate
from bot.config import Settings
from bot.messages import t
from storage.models import Institution, Person, School

log = logging.getLogger(__name__)


async def import_configured_directory(settings: Settings) -> tuple[int, int, int]:
    """Import the configured directory files (idempotent upsert) and count what is there."""
    from bot.directory import import_directory, read_directory_files

    container = build(settings)
    try:
        files = directory_files(settings.directory.import_on_start)
        if files:
            report = await import_directory(container.uow, read_directory_files(files))
            for line in report.lines():
                log.info("directory: %s", line)
        async with container.uow() as uow:
            counts = []
            for model in (School, Institution, Person):
                counts.append(int((await uow.session.execute(
                    select(func.count()).select_from(model))).scalar_one()))
        return counts[0], counts[1], counts[2]
    finally:
        await container.close()


def prepare(settings: Settings) -> object:
    """Migrate, import the configured directory, load the model, and report what is ready."""
    from classifier import load

    migrate(settings)
    schools, institutions, people = asyncio.run(import_configured_directory(settings))
    classifier = load(settings.classifier.model_path or None)
    threshold = settings.classifier.threshold
    print(t("cli.run.ready", url=settings.database.url, schools=schools,
            institutions=institutions, people=people, model=classifier.model_version,
            threshold=threshold if threshold is not None else classifier.threshold))
    return classifier


def run(settings: Settings, *, interactive: bool | None = None) -> int:
    """Run dudao; without a token, open the terminal sandbox (or explain, if not a terminal)."""
    classifier = prepare(settings)
    if not settings.telegram.token:
        print(t("cli.run.no_token"))
        print(t("cli.run.how_to_token"))
        if interactive if interactive is not None else sys.stdin.isatty():
            return try_sandbox(settings, classifier)
        print(t("cli.run.sandbox_hint"))
        return 0
    from handlers.telegram.app import serve

    return int(serve(settings, classifier))


def try_sandbox(settings: Settings, classifier: object | None = None) -> int:
    """Chat with the bot in the terminal through a local Bot API server."""
    from handlers.sandbox import run_sandbox

    if classifier is None:
        classifier = prepare(settings)
    return asyncio.run(run_sandbox(settings, classifier))
