"""What can be wrong with directory files: located problems and the error that lists them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.messages import t

MAX_PROBLEMS = 50

_SOURCE_RE = re.compile(r"^(?P<file>.*?)(?:\[(?P<sheet>[^\[\]]*)\])?(?::(?P<row>\d+))?$")


def make_source(file: str, sheet: str | None = None, row: int | None = None) -> str:
    """Build a source string: "schools.csv:12", "book.xlsx[学校]:12" or just the file."""
    text = file if sheet is None else f"{file}[{sheet}]"
    return text if row is None else f"{text}:{row}"


def source_order(source: str) -> tuple[str, str, int]:
    """Sort key of a source string: file, sheet, then row number (as a number)."""
    match = _SOURCE_RE.match(source)
    if match is None:  # pragma: no cover - the pattern matches any string
        return source, "", 0
    return match["file"], match["sheet"] or "", int(match["row"] or 0)


def describe_source(source: str) -> str:
    """Render a source string as a Chinese location: "schools.csv 第12行"."""
    match = _SOURCE_RE.match(source)
    if match is None or not source:  # pragma: no cover - the pattern matches any string
        return source
    file, sheet, row = match["file"], match["sheet"], match["row"]
    if sheet is not None and row is not None:
        return t("directory.where.sheet_row", file=file, sheet=sheet, row=row)
    if sheet is not None:
        return t("directory.where.sheet", file=file, sheet=sheet)
    if row is not None:
        return t("directory.where.row", file=file, row=row)
    return t("directory.where.file", file=file)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth a warning) at `source`; `key` names its catalogue text.

    `column` is the Chinese name of the column the problem is in, when it is about one cell;
    every location is then said one way: `schools.csv 第3行 “责任督学代码”列：…`.
    """

    source: str
    key: str
    params: Mapping[str, object] = field(default_factory=dict)
    column: str = ""

    def where(self) -> str:
        """Render the location: file, sheet, row and column, as far as they are known."""
        where = describe_source(self.source)
        if self.column:
            return t("directory.where.column", where=where, column=self.column)
        return where

    def reason(self) -> str:
        """Render the reason alone, without the location."""
        return t(self.key, **self.params)

    def render(self) -> str:
        """Render one Chinese line: "schools.csv 第12行：学校代码为空"."""
        if not self.source:
            return self.reason()
        return t("directory.line", where=self.where(), reason=self.reason())


class Problems:
    """Collect problems up to a limit while still counting all of them."""

    def __init__(self, limit: int = MAX_PROBLEMS) -> None:
        self.limit = limit
        self.kept: list[Problem] = []
        self.total = 0

    def add(self, problem: Problem) -> None:
        """Record a problem; past the limit it is only counted."""
        self.total += 1
        if len(self.kept) < self.limit:
            self.kept.append(problem)

    def lines(self) -> list[str]:
        """Render the kept problems, one line each, and say how many were left out."""
        return render_lines(self.kept, self.total)


def render_lines(problems: Sequence[Problem], total: int) -> list[str]:
    """Render problems one line each, then say how many of `total` were left out."""
    lines = [problem.render() for problem in problems]
    if total > len(lines):
        lines.append(t("directory.error.too_many", total=total, shown=len(lines)))
    return lines


class DirectoryFileError(Exception):
    """The files cannot be imported; `problems` says where and why (at most 50 are kept)."""

    def __init__(self, problems: Sequence[Problem], total: int | None = None) -> None:
        self.problems = list(problems)
        self.total = max(total or 0, len(self.problems))
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(render_lines(self.problems, self.total))
