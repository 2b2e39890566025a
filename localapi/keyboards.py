"""Validation of reply_markup the way Telegram checks it."""

from __future__ import annotations

from typing import Any

from localapi.state import JSON, bad_request

# Fields of which an inline button must carry exactly one.
_INLINE_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)
_MAX_CALLBACK_DATA_BYTES = 64


def validate_reply_markup(markup: Any) -> JSON | None:
    """Check a decoded reply_markup and return it; raise Telegram's 400 when it is wrong."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        for row in _rows(markup["inline_keyboard"], "inline keyboard"):
            for button in row:
                _check_inline_button(button)
    elif "keyboard" in markup:
        for row in _rows(markup["keyboard"], "keyboard"):
            for button in row:
                _check_keyboard_button(button)
    elif markup.get("remove_keyboard") is not True and markup.get("force_reply") is not True:
        raise bad_request("can't parse reply keyboard markup JSON object")
    return markup


def _rows(rows: Any, what: str) -> list[list[Any]]:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(f"field \"{what}\" must be an Array of Arrays")
    return rows


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request("can't parse inline keyboard button: Text must be a String")
    if not button["text"].strip():
        raise bad_request("BUTTON_TEXT_INVALID")
    actions = [name for name in _INLINE_ACTIONS if name in button]
    if not actions:
        raise bad_request("can't parse inline keyboard button: "
                          "Text buttons are unallowed in the inline keyboard")
    data = button.get("callback_data")
    if data is not None:
        size = len(str(data).encode("utf-8"))
        if not isinstance(data, str) or not 1 <= size <= _MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None and not (isinstance(url, str) and ("://" in url or url.startswith("tg:"))):
        raise bad_request("BUTTON_URL_INVALID")


def _check_keyboard_button(button: Any) -> None:
    text = button if isinstance(button, str) else (
        button.get("text") if isinstance(button, dict) else None)
    if not isinstance(text, str):
        raise bad_request("can't parse keyboard button: Text must be a String")
    if not text.strip():
        raise bad_request("BUTTON_TEXT_INVALID")

