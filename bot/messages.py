"""The one catalogue of user-facing texts (Simplified Chinese).

Every text a parent, supervisor, staff member or admin reads lives here, keyed by a
dotted name; code renders it with `t(key, **params)`. Sections are separated by
comments so each part of the product keeps its texts together.
"""

from __future__ import annotations

CATALOGUE: dict[str, str] = {
    # --- general ---
    "general.internal_error": "系统出现问题，您的信息没有丢失，请稍后再试。",
    # --- end of catalogue ---
}


def t(key: str, /, **params: object) -> str:
    """Render the catalogue text `key` with `params` (str.format placeholders)."""
    text = CATALOGUE[key]
    return text.format(**params) if params else text
