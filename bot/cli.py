"""The `dudao` command line (the operator contract in README.md)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from bot.config import ConfigError, Settings, load_settings
from bot.messages import t

# argparse's own English messages (Python 3.11+) and their catalogue keys: the parser prints
# every word a user reads in Chinese without touching gettext for the whole process.
_ARGPARSE_ERRORS: list[tuple[re.Pattern[str], str]] = [(re.compile(p), key) for p, key in (
    (r"argument (?P<arg>.+?): (?P<message>.+)", "cli.argparse.argument"),
    (r"the following arguments are required: (?P<args>.+)", "cli.argparse.required"),
    (r"one of the arguments (?P<args>.+) is required", "cli.argparse.one_required"),
    (r"unrecognized arguments: (?P<args>.+)", "cli.argparse.unrecognized"),
    (r"invalid choice: (?P<value>.+?) \(choose from (?P<choices>.+)\)",
     "cli.argparse.invalid_choice"),
    (r"invalid (?P<type>\S+) value: (?P<value>.+)", "cli.argparse.invalid_value"),
    (r"expected one argument", "cli.argparse.expected_one"),
    (r"expected at least one argument", "cli.argparse.expected_some"),
    (r"expected at most one argument", "cli.argparse.expected_at_most_one"),
    (r"not allowed with argument (?P<other>.+)", "cli.argparse.not_allowed_with"),
    (r"ambiguous option: (?P<option>.+?) could match (?P<matches>.+)", "cli.argparse.ambiguous"),
    (r"ignored explicit argument (?P<value>.+)", "cli.argparse.ignored_value"),
)]


def translate_argparse(message: str) -> str:
    """Render one of argparse's English error messages in Chinese (others unchanged)."""
    for pattern, key in _ARGPARSE_ERRORS:
        match = pattern.fullmatch(message)
        if match is None:
            continue
        params = match.groupdict()
        if "message" in params:
            params["message"] = translate_argparse(params["message"])
        if "type" in params:
            params["type"] = {"int": "整数", "float": "数字"}.get(params["type"], params["type"])
        return t(key, **params)
    return message


class ChineseHelpFormatter(argparse.HelpFormatter):
    """argparse's help layout with a Chinese "用法：" heading."""

    def add_usage(self, usage: str | None, actions: Any, groups: Any,
                  prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups,
                          t("cli.help.usage") if prefix is None else prefix)

    def format_help(self) -> str:
        """The help text, with a Chinese colon after each section heading ("选项：")."""
        return re.sub(r"(?m)^(\S[^\n]*):$", r"\1：", super().format_help())


class ChineseArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose headings, -h and error messages are Chinese."""

    formatter_class: type[argparse.HelpFormatter]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", ChineseHelpFormatter)
        add_help = kwargs.pop("add_help", True)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = t("cli.help.positionals")
        self._optionals.title = t("cli.help.options")
        if add_help:
            self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS,
                              help=t("cli.help.help"))

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, t("cli.argparse.error", prog=self.prog,
                       message=translate_argparse(message)) + "\n")


def package_version() -> str:
    """The installed dudao's version (pyproject.toml's [project] version)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dudao")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "0+unknown"


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help=t("cli.help.config"))


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
    from bot.bootstrap import open_container, safe_url
    from bot.domain import DomainError
    from bot.messages import explain

    try:
        async with open_container(settings) as container:
            issued = await container.invites.issue_invite(code, role, hours)
    except DomainError as exc:
        print(explain(exc.key, exc.params), file=sys.stderr)
        return 1
    local = issued.expires.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    person = issued.person
    print(t("cli.invite.issued", code=issued.code, expires=local, person=person.code,
            name=person.name, role_name=t(f"role.{person.role}"), hours=hours,
            url=safe_url(settings.database.url)))
    if person.telegram_user_id is not None:
        print(t("cli.invite.already_bound", name=person.name), file=sys.stderr)
    return 0


def cmd_calendar_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.workcalendar import CalendarFileError, import_schedule

    settings = _settings(args)
    try:
        schedule, stored = import_schedule(Path(args.file), Path(settings.calendar.dir))
    except CalendarFileError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(t("calendar.imported", year=schedule.year, holidays=len(schedule.holidays),
            workdays=len(schedule.workdays), path=stored))
    return 0


def cmd_invite(args: argparse.Namespace) -> int:
    from bot.invites import MAX_INVITE_HOURS

    if not 0 < args.hours <= MAX_INVITE_HOURS:  # refused before the database is opened
        print(t("invite.error.hours", hours=args.hours, limit=MAX_INVITE_HOURS), file=sys.stderr)
        return 2
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
    return run_train(args, extra_examples=extra, settings=settings)


def cmd_classify(args: argparse.Namespace) -> int:
    from bot.cli_classifier import run_classify

    return run_classify(args, sys.stdin, sys.stdout)


def cmd_model(args: argparse.Namespace) -> int:
    from bot.cli_classifier import run_model

    return run_model(args, sys.stdout)


def cmd_run(args: argparse.Namespace) -> int:
    from bot.runner import run

    return run(_settings(args))


def cmd_export(args: argparse.Namespace) -> int:
    from bot.cli_export import run_export

    return run_export(args)


def cmd_report(args: argparse.Namespace) -> int:
    from bot.cli_report import run_report

    return run_report(args)


def cmd_try(args: argparse.Namespace) -> int:
    from bot.runner import try_sandbox

    return try_sandbox(_settings(args))


def build_parser() -> argparse.ArgumentParser:
    parser = ChineseArgumentParser(prog="dudao", description=t("cli.help.description"))
    parser.add_argument("--version", action="version", help=t("cli.help.version"),
                        version=f"dudao {package_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help=t("cli.help.verbose"))
    sub = parser.add_subparsers(dest="command", required=True, title=t("cli.help.commands"),
                                metavar=t("cli.help.command_metavar"),
                                help=t("cli.help.command_hint"))

    def command(name: str, parent: Any = sub) -> argparse.ArgumentParser:
        text = t(f"cli.help.{name}")
        made: argparse.ArgumentParser = parent.add_parser(name, help=text, description=text)
        return made

    p = command("run")
    _add_config(p)
    p.set_defaults(func=cmd_run)

    p = command("try")
    _add_config(p)
    p.set_defaults(func=cmd_try)

    p = command("migrate")
    _add_config(p)
    p.set_defaults(func=cmd_migrate)

    p = command("directory")
    dsub = p.add_subparsers(dest="directory_command", required=True,
                            title=t("cli.help.commands"), metavar=t("cli.help.command_metavar"))
    imp = command("import", dsub)
    imp.add_argument("files", nargs="+", metavar=t("cli.help.file_metavar"),
                     help=t("cli.help.import_files"))
    _add_config(imp)
    imp.set_defaults(func=cmd_directory_import)

    p = command("calendar")
    csub = p.add_subparsers(dest="calendar_command", required=True,
                            title=t("cli.help.commands"), metavar=t("cli.help.command_metavar"))
    cal = csub.add_parser("import", help=t("cli.help.calendar_import"),
                          description=t("cli.help.calendar_import"))
    cal.add_argument("file", metavar=t("cli.help.file_metavar"),
                     help=t("cli.help.calendar_file"))
    _add_config(cal)
    cal.set_defaults(func=cmd_calendar_import)

    from bot.cli_export import add_export_arguments

    p = command("export")
    _add_config(p)
    add_export_arguments(p)
    p.set_defaults(func=cmd_export)

    from bot.cli_report import add_report_arguments

    p = command("report")
    _add_config(p)
    add_report_arguments(p)
    p.set_defaults(func=cmd_report)

    p = command("invite")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--supervisor", metavar="CODE", help=t("cli.help.invite_supervisor"))
    who.add_argument("--staff", metavar="CODE", help=t("cli.help.invite_staff"))
    p.add_argument("--hours", type=int, default=72, help=t("cli.help.invite_hours"))
    _add_config(p)
    p.set_defaults(func=cmd_invite)

    from bot.cli_classifier import (
        add_classify_arguments,
        add_model_arguments,
        add_train_arguments,
    )

    p = command("train")
    add_train_arguments(p)
    p.set_defaults(func=cmd_train)
    p = command("classify")
    add_classify_arguments(p)
    p.set_defaults(func=cmd_classify)
    p = command("model")
    add_model_arguments(p)
    p.set_defaults(func=cmd_model)
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
    except Exception as exc:  # what a newcomer meets gets one Chinese line; bugs re-raise
        explained = _explain_start_failure(exc, args)
        if explained is None:
            raise
        print(explained, file=sys.stderr)
        return 1


def _explain_start_failure(exc: Exception, args: argparse.Namespace) -> str | None:
    """One Chinese explanation for what stops a command from starting, or None (a bug)."""
    from bot.bootstrap import connection_failure, safe_url
    from bot.config import env_variable
    from bot.directory.problems import DirectoryFileError
    from bot.directory.service import DirectoryImportError

    if isinstance(exc, (DirectoryFileError, DirectoryImportError)):
        return t("startup.directory_bad") + "\n" + str(exc)
    detail = connection_failure(exc)
    if detail is not None:
        try:
            url = load_settings(getattr(args, "config", None)).database.url
        except ConfigError:  # pragma: no cover - the settings loaded once already
            url = "?"
        source = t("startup.db_source.env" if env_variable(("database", "url"))
                   else "startup.db_source.file")
        key = "startup.db_unopenable" if url.startswith("sqlite") else "startup.db_unreachable"
        return t(key, url=safe_url(url), source=source, detail=detail)
    return None


if __name__ == "__main__":
    sys.exit(main())
