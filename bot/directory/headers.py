"""The vocabulary of directory files: which words name a table, a column or a value.

The words themselves are data, in headers.toml beside this module; this module loads them
once, on first use, and answers lookups with normalised keys.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal, cast

from bot.messages import CATALOGUE, t

TableName = Literal["districts", "schools", "institutions", "supervisors", "staff"]
TABLES: tuple[TableName, ...] = ("districts", "schools", "institutions", "supervisors", "staff")
ValueKind = Literal["district_kind", "stage", "institution_kind", "role", "licensed"]

INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_NOISE_RE = re.compile(r"\([^)]*\)|\[[^\]]*\]|[*\s_\-/、:]")


def norm_key(text: str) -> str:
    """Normalise a header, file stem or value for lookup: no case, notes or separators."""
    text = unicodedata.normalize("NFKC", text).translate(INVISIBLE).lower()
    return _NOISE_RE.sub("", text)


@dataclass(frozen=True)
class TableSpec:
    """A table's required fields and the normalised header words of each field."""

    table: TableName
    required: tuple[str, ...]
    columns: dict[str, str]  # normalised header -> field

    def field_for(self, header_key: str) -> str | None:
        """Return the field a normalised header names, if any."""
        return self.columns.get(header_key)


@dataclass(frozen=True)
class Values:
    """One kind of enumerated value: normalised spelling -> canonical value."""

    spellings: dict[str, str]
    allowed: str  # what an error message lists

    def canonical(self, text: str) -> str | None:
        """Return the canonical value `text` spells, or None."""
        return self.spellings.get(norm_key(text))


@dataclass(frozen=True)
class Vocabulary:
    """Everything headers.toml says, ready for lookups."""

    specs: dict[TableName, TableSpec]
    table_names: dict[str, TableName]  # normalised file stem or sheet name -> table
    table_keywords: tuple[tuple[str, TableName], ...]
    skipped_sheets: frozenset[str]
    values: dict[ValueKind, Values]


@cache
def vocabulary() -> Vocabulary:
    """Load headers.toml (once)."""
    raw = tomllib.loads(resources.files(__package__).joinpath("headers.toml").read_text("utf-8"))
    specs: dict[TableName, TableSpec] = {}
    names: dict[str, TableName] = {}
    keywords: list[tuple[str, TableName]] = []
    for table in TABLES:
        entry = raw["tables"][table]
        columns = {norm_key(word): field for field, words in entry["headers"].items()
                   for word in words}
        specs[table] = TableSpec(table, tuple(entry["required"]), columns)
        names.update((norm_key(name), table) for name in entry["names"])
        keywords.extend((norm_key(word), table) for word in entry["keywords"])
    values = {
        cast(ValueKind, kind): Values({norm_key(k): v for k, v in entry["spellings"].items()},
                                      entry["allowed"])
        for kind, entry in raw["values"].items()
    }
    skipped = frozenset(norm_key(name) for name in raw["sheets"]["skipped"])
    return Vocabulary(specs, names, tuple(keywords), skipped, values)


def table_from_name(stem: str) -> TableName | None:
    """Recognise a table by a file stem or sheet name (exact, else one unambiguous keyword)."""
    words = vocabulary()
    key = norm_key(stem)
    if key in words.table_names:
        return words.table_names[key]
    found = {table for keyword, table in words.table_keywords if keyword in key}
    return found.pop() if len(found) == 1 else None


def table_from_headers(keys: list[str]) -> TableName | None:
    """Recognise a table by its headers: the one spec they fit best, if exactly one."""
    scored: list[tuple[int, TableName]] = []
    for table, spec in vocabulary().specs.items():
        fields = {spec.columns[k] for k in keys if k in spec.columns}
        if all(r in fields for r in spec.required):
            scored.append((len(fields), table))
    scored.sort(reverse=True)
    if not scored or (len(scored) > 1 and scored[0][0] == scored[1][0]):
        return None
    return scored[0][1]


def is_skipped_sheet(name: str) -> bool:
    """Tell whether a sheet name marks an instructions page."""
    return norm_key(name) in vocabulary().skipped_sheets


def field_label(table: TableName, field_name: str) -> str:
    """Name a field in Chinese for messages ("学校代码", "督学姓名", "学段")."""
    specific = CATALOGUE.get(f"directory.field.{table}.{field_name}")
    label = specific if specific is not None else t(f"directory.field.{field_name}")
    if field_name in ("code", "name"):
        return t(f"directory.table.{table}") + label
    return label
