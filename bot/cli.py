"""The `dudao` command line (the operator contract in README.md)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from bot.config import ConfigError, Settings, load_settings
from bot.messages import t


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file "
                        "(default: embedded defaults, SQLite under ./var)")


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.bootstrap import migrate, safe_url

    settings = _settings(args)
    migrate(settings)
    print(t("cli.migrated", url=safe_url(settings.database.url)))
    return 0


async def _import(settings: Settings, paths: list[str]) -> int:
    from bot.bootstrap import directory_files, open_container
    from bot.directory.files import read_directory_files
    from bot.directory.problems import DirectoryFileError
    from bot.directory.service import DirectoryImportError, import_directory

    files = directory_files(paths)
    if not files:
        print(t("cli.import.no_files"), file=sys.stderr)
        return 2
    print(t("cli.import.reading", count=len(files)), flush=True)
    try:
        data = read_directory_files(files)
    except DirectoryFileError as exc:
        print(t("dirimport.nothing_changed"), file=sys.stderr)
        print(str(exc), file=sys.stderr)
        return 1
    try:
        async with open_container(settings) as container:
            report = await import_directory(container.uow, data)
    except DirectoryImportError as exc:
        print(t("dirimport.nothing_changed"), file=sys.stderr)
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    print(t("dirimport.done"))
    for line in report.lines():
        print("  " + line)
    return 0


def cmd_directory_import(args: argparse.Namespace) -> int:
    return asyncio.run(_import(_settings(args), args.files))


async def _invite(settings: Settings, code: str, role: str, hours: int) -> int:
    from bot.bootstrap import open_container
    from bot.domain import DomainError
    from bot.messages import explain

    try:
        async with open_container(settings) as container:
            invite, expires = await container.invites.issue(code, role, hours)
    except DomainError as exc:
        print(explain(exc.key, exc.params), file=sys.stderr)
        return 1
    local = expires.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    print(t("cli.invite.issued", code=invite, expires=local, person=code))
    return 0


def cmd_invite(args: argparse.Namespace) -> int:
    settings = _settings(args)
    role, code = ("staff", args.staff) if args.staff else ("supervisor", args.supervisor)
    return asyncio.run(_invite(settings, code, role, args.hours))


async def _corrections(settings: Settings) -> list[tuple[str, str]]:
    from bot.bootstrap import open_container

    async with open_container(settings) as container, container.uow.read() as uow:
        return await uow.cases.corrections()


def cmd_train(args: argparse.Namespace) -> int:
    from bot.cli_classifier import run_train

    settings = _settings(args)
    extra = asyncio.run(_corrections(settings))
    print(t("cli.train.corrections", count=len(extra)), flush=True)
    return run_train(args, extra_examples=extra)


def cmd_classify(args: argparse.Namespace) -> int:
    from bot.cli_classifier import run_classify

    return run_classify(args, sys.stdin, sys.stdout)


def cmd_run(args: argparse.Namespace) -> int:
    from bot.runner import run

    return run(_settings(args))


def cmd_export(args: argparse.Namespace) -> int:
    from bot.cli_export import run_export

    return run_export(args)


def cmd_try(args: argparse.Namespace) -> int:
    from bot.runner import try_sandbox

    return try_sandbox(_settings(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dudao", description="dudao (督导): 双减 tips bot")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the bot (long polling or webhook)")
    _add_config(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("try", help="chat with the bot in this terminal (no Telegram needed)")
    _add_config(p)
    p.set_defaults(func=cmd_try)

    p = sub.add_parser("migrate", help="create or upgrade the database schema")
    _add_config(p)
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("directory", help="the directory of schools, institutions, people")
    dsub = p.add_subparsers(dest="directory_command", required=True)
    imp = dsub.add_parser("import", help="import CSV/XLSX files or folders (upsert by code)")
    imp.add_argument("files", nargs="+", metavar="FILE")
    _add_config(imp)
    imp.set_defaults(func=cmd_directory_import)

    from bot.cli_export import add_export_arguments

    p = sub.add_parser("export", help="export cases to XLSX or CSV for the office")
    _add_config(p)
    add_export_arguments(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("invite", help="issue a one-time invite code for a supervisor or staff")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--supervisor", metavar="CODE")
    who.add_argument("--staff", metavar="CODE")
    p.add_argument("--hours", type=int, default=72, help="validity in hours (default 72)")
    _add_config(p)
    p.set_defaults(func=cmd_invite)

    from bot.cli_classifier import add_classify_arguments, add_train_arguments

    p = sub.add_parser("train", help="train and evaluate the tip classifier")
    _add_config(p)
    add_train_arguments(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("classify", help="classify JSON Lines from stdin")
    add_classify_arguments(p)
    p.set_defaults(func=cmd_classify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "httpx", "apscheduler", "telegram", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(t("cli.config_error", error=str(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
