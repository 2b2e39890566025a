"""Outbox rows as their recipient will see them: rendered the way delivery renders them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.telegram.views import plain, render_outbox
from storage.models import OutboxRow


@dataclass(frozen=True)
class Shown:
    chat_id: int
    kind: str
    text: str  # plain text, as read on screen
    markup: dict[str, Any] | None  # {"buttons": [[[label, callback data], ...], ...]}
    dedup_key: str | None = None


def shown(row: OutboxRow) -> Shown:
    html, keyboard = render_outbox(row)
    markup = None
    if keyboard is not None:
        markup = {"buttons": [[[b.text, b.callback_data] for b in line]
                              for line in keyboard.inline_keyboard]}
    return Shown(row.chat_id, row.kind, plain(html), markup, row.dedup_key)
