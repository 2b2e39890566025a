"""`dudao export`: its arguments, a progress line on stderr, and writing the file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path
from typing import Any

from bot.export import FORMATS, default_file_name, export_cases, local_bounds
from bot.facts import Progress
from bot.messages import explain_os_error, t


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(t("export.error.bad_date", value=text[:20])) from exc


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --from/--to/--format/--out to the `dudao export` subparser (--config is the CLI's)."""
    parser.add_argument("--from", dest="date_from", type=_iso_date, required=True,
                        metavar="YYYY-MM-DD", help=t("cli.help.export_from"))
    parser.add_argument("--to", dest="date_to", type=_iso_date, required=True,
                        metavar="YYYY-MM-DD", help=t("cli.help.export_to"))
    parser.add_argument("--format", dest="fmt", choices=FORMATS, default=None,
                        help=t("cli.help.export_format"))
    parser.add_argument("--out", metavar="FILE",
                        help=t("cli.help.export_out"))
    parser.add_argument("--full-text", action="store_true",
                        help=t("cli.help.export_full_text"))




def choose_format(fmt: str | None, out: str | None) -> str:
    """The export format: --format, else the --out file's suffix, else xlsx.

    Raises ValueError (a Chinese message) when the file name has another suffix (x.pdf) or
    --format contradicts it.
    """
    suffix = Path(out).suffix.lower().lstrip(".") if out and out != "-" else ""
    if suffix and suffix not in FORMATS:
        raise ValueError(t("export.error.unknown_suffix", path=out, suffix=suffix))
    named = suffix if suffix in FORMATS else None
    if fmt is None:
        return named or "xlsx"
    if named is not None and named != fmt:
        raise ValueError(t("export.error.format_mismatch", fmt=fmt, path=out, suffix=suffix))
    return fmt


class ProgressLine:
    """Progress on stderr: one updating line on a terminal, a line per batch otherwise."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int) -> None:
        text = t("export.progress", done=done, total=total)
        if self.tty:
            end = "\n" if done >= total else ""
            self.stream.write("\r" + text + end)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


async def _export(settings: Any, args: argparse.Namespace, progress: Progress) -> bytes:
    from bot.bootstrap import open_container

    async with open_container(settings) as container, container.uow.read() as uow:
        rules = settings.time_rules
        return await export_cases(uow.case_facts, args.date_from, args.date_to, args.fmt,
                                  tz=settings.tz, now=container.clock.now(),
                                  accept_days=rules.accept_working_days,
                                  propose_days=rules.propose_working_days,
                                  decide_days=rules.decide_working_days,
                                  progress=progress, mask=not args.full_text)


def run_export(args: argparse.Namespace) -> int:
    """`dudao export`: write the cases of a date range to an XLSX or CSV file."""
    from bot.config import ConfigError, load_settings

    try:
        args.fmt = choose_format(args.fmt, args.out)
        settings = load_settings(getattr(args, "config", None))
        local_bounds(args.date_from, args.date_to, settings.tz)
    except (ConfigError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    data = asyncio.run(_export(settings, args, ProgressLine(sys.stderr)))
    target = args.out or default_file_name(args.date_from, args.date_to, args.fmt)
    return write_output(target, data)


def write_output(target: str, data: bytes) -> int:
    """Write a file the command built to `target` ("-" = standard output): 0, or 1 with a
    Chinese line when it cannot be written."""
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    try:
        Path(target).write_bytes(data)
    except OSError as exc:
        print(t("export.error.write", path=target, error=explain_os_error(exc)),
              file=sys.stderr)
        return 1
    print(t("export.written", path=target, size=len(data)), file=sys.stderr)
    return 0
