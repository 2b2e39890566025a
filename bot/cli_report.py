"""`dudao report`: a 半月报 or 季度通报 from the command line, as the staff receive it in chat.

`--period 2026-Q4` names a quarter, `2026-12-H1` the 1st–14th and `2026-12-H2` the 15th to the
month's end. `--format` is xlsx (figures, chart and case rows), docx (the 通报 from the
office's template) or png (the chart); by default the --out file's suffix, else xlsx. The
figures are those of today, as the chat's. The tip text in the workbook is masked unless
--full-text is given (the operator is not necessarily office staff).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from bot.cli_export import write_output
from bot.messages import t
from bot.reports import Period, file_name, parse_period, summary_text

REPORT_FORMATS = ("xlsx", "docx", "png")


def _period(text: str) -> Period:
    try:
        return parse_period(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --period/--format/--out/--full-text to `dudao report` (--config is the CLI's)."""
    parser.add_argument("--period", type=_period, required=True,
                        metavar="2026-Q4|2026-12-H1|2026-12-H2", help=t("cli.help.report_period"))
    parser.add_argument("--format", dest="fmt", choices=REPORT_FORMATS, default=None,
                        help=t("cli.help.report_format"))
    parser.add_argument("--out", metavar="FILE", help=t("cli.help.report_out"))
    parser.add_argument("--full-text", action="store_true",
                        help=t("cli.help.export_full_text"))


def choose_report_format(fmt: str | None, out: str | None) -> str:
    """--format, else the --out file's suffix, else xlsx; ValueError when they disagree."""
    suffix = Path(out).suffix.lower().lstrip(".") if out and out != "-" else ""
    if suffix and suffix not in REPORT_FORMATS:
        raise ValueError(t("report.error.suffix", path=out, suffix=suffix))
    if fmt is None:
        return suffix or "xlsx"
    if suffix and suffix != fmt:
        raise ValueError(t("export.error.format_mismatch", fmt=fmt, path=out, suffix=suffix))
    return fmt


async def _build(settings: Any, args: argparse.Namespace) -> tuple[bytes, str]:
    from bot.bootstrap import open_container

    async with open_container(settings) as container:
        files = await container.reporting.build(args.period, mask=not args.full_text,
                                                with_bulletin=args.fmt == "docx")
    data = {"xlsx": files.workbook, "docx": files.bulletin, "png": files.chart}[args.fmt]
    return data, summary_text(files.report)


def run_report(args: argparse.Namespace) -> int:
    """`dudao report`: write the period's report; its figures go to stderr."""
    from bot.config import ConfigError, load_settings

    try:
        args.fmt = choose_report_format(args.fmt, args.out)
        settings = load_settings(getattr(args, "config", None))
    except (ConfigError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    data, summary = asyncio.run(_build(settings, args))
    print(summary, file=sys.stderr)
    target = args.out or file_name(args.period, args.fmt)
    return write_output(target, data)
