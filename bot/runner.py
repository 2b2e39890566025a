"""`dudao run`: prepare the database, directory and model, then serve Telegram."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import func, select

from bot.bootstrap import build, directory_files, migrate
from bot.config import Settings
from bot.messages import t
from storage.models import Institution, Person, School

log = logging.getLogger(__name__)


async def _prepare(settings: Settings) -> tuple[int, int, int]:
    """Import the configured directory files (idempotent upsert) and count what is there."""
    from bot.directory import import_directory
    from bot.directory_files import read_directory_files

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


def run(settings: Settings) -> int:
    """Run dudao with `settings`; without a token, prepare everything and say what is next."""
    from classifier import load

    migrate(settings)
    schools, institutions, people = asyncio.run(_prepare(settings))
    classifier = load(settings.classifier.model_path or None)
    threshold = settings.classifier.threshold
    print(t("cli.run.ready", url=settings.database.url, schools=schools,
            institutions=institutions, people=people, model=classifier.model_version,
            threshold=threshold if threshold is not None else classifier.threshold))
    if not settings.telegram.token:
        print(t("cli.run.no_token"))
        print(t("cli.run.how_to_token"))
        return 0
    from handlers.telegram.app import serve  # type: ignore[import-not-found]

    return int(serve(settings, classifier))
