"""Text formatting as Telegram does it: HTML parse mode, UTF-16 offsets, command entities.

The HTML parser is deliberately as strict as Telegram's: an unsupported tag (<br>, <p>,
<div>), an unclosed or mismatched tag, or a bare "<" fails with "can't parse entities", so
a view that forgets to escape user input fails in tests instead of in production.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Tag → entity type; span is a spoiler only with class="tg-spoiler".
_TAGS = {
    "b": "bold", "strong": "bold",
    "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler",
    "a": "text_link",
    "code": "code", "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
# Telegram supports every numeric entity but only these named ones.
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);")
_ATTRIBUTE = re.compile(r"""([a-zA-Z][\w-]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_COMMAND = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{1,32})?(?![\w/])")


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML."""


@dataclass(frozen=True)
class FormattedText:
    """Plain text as the user sees it plus its message entities."""

    text: str
    entities: list[dict[str, Any]]


@dataclass
class _OpenTag:
    name: str
    entity_type: str
    offset: int  # UTF-16 offset in the plain text
    attributes: dict[str, str]


def utf16_len(text: str) -> int:
    """Return the length of `text` in UTF-16 code units, the unit of entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str) -> list[dict[str, Any]]:
    """Return bot_command entities for every /command in a user's text."""
    return [
        {"type": "bot_command", "offset": utf16_len(text[: m.start()]),
         "length": utf16_len(m.group())}
        for m in _COMMAND.finditer(text)
    ]


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _unescape(match: re.Match[str]) -> str:
    name = match.group(1)
    if name.startswith(("#x", "#X")):
        return chr(int(name[2:], 16))
    if name.startswith("#"):
        return chr(int(name[1:]))
    # Unknown named entities stay as they are, like Telegram leaves them.
    return _NAMED_ENTITIES.get(name.lower(), match.group())


def unescape(text: str) -> str:
    """Replace the HTML entities Telegram understands by their characters."""
    return _ENTITY.sub(_unescape, text)


class _HtmlParser:
    """One pass over the source, producing plain text and entities."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.parts: list[str] = []
        self.length = 0  # UTF-16 length of the plain text so far
        self.stack: list[_OpenTag] = []
        self.entities: list[dict[str, Any]] = []

    def parse(self) -> FormattedText:
        source, i = self.source, 0
        while i < len(source):
            lt = source.find("<", i)
            if lt < 0:
                self._add_text(source[i:])
                break
            self._add_text(source[i:lt])
            gt = source.find(">", lt)
            if gt < 0:
                raise EntityParseError(
                    f"Can't find end of the tag starting at byte offset {_byte_offset(source, lt)}")
            self._tag(source[lt + 1 : gt], _byte_offset(source, lt))
            i = gt + 1
        if self.stack:
            raise EntityParseError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return FormattedText("".join(self.parts), self.entities)

    def _add_text(self, raw: str) -> None:
        text = unescape(raw)
        self.parts.append(text)
        self.length += utf16_len(text)

    def _tag(self, inner: str, at: int) -> None:
        if inner.startswith("/"):
            self._end_tag(inner[1:].strip().lower(), at)
            return
        name, _, rest = inner.strip().partition(" ")
        name = name.lower()
        if name not in _TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {at}')
        attributes = {m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None)
                      for m in _ATTRIBUTE.finditer(rest)}
        if name == "blockquote" and "expandable" in rest.lower().split():
            attributes["expandable"] = ""
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
        self.stack.append(_OpenTag(name, _TAGS[name], self.length, attributes))

    def _end_tag(self, name: str, at: int) -> None:
        if not self.stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {at}")
        tag = self.stack[-1]
        if tag.name != name:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {at}, expected "</{tag.name}>", '
                f'found "</{name}>"')
        self.stack.pop()
        parent = self.stack[-1] if self.stack else None
        if tag.name == "code" and parent is not None and parent.name == "pre":
            # <pre><code class="language-x"> is one pre entity with a language.
            language = tag.attributes.get("class", "")
            if language.startswith("language-"):
                parent.attributes["language"] = language.removeprefix("language-")
            return
        self._add_entity(tag)

    def _add_entity(self, tag: _OpenTag) -> None:
        length = self.length - tag.offset
        if length <= 0:
            return
        entity: dict[str, Any] = {"type": tag.entity_type, "offset": tag.offset, "length": length}
        if tag.name == "a":
            if "href" not in tag.attributes:
                return
            entity["url"] = tag.attributes["href"]
        elif tag.name == "pre" and "language" in tag.attributes:
            entity["language"] = tag.attributes["language"]
        elif tag.name == "blockquote" and "expandable" in tag.attributes:
            entity["type"] = "expandable_blockquote"
        elif tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.attributes.get("emoji-id", "")
        self.entities.append(entity)


def parse_html(source: str) -> FormattedText:
    """Parse Telegram HTML into plain text and entities; raise EntityParseError if invalid."""
    return _HtmlParser(source).parse()


def format_text(text: str, parse_mode: str | None) -> FormattedText:
    """Apply a parse mode: HTML is parsed strictly, other modes keep the text as sent."""
    if parse_mode is not None and parse_mode.upper() == "HTML":
        return parse_html(text)
    return FormattedText(text, [])
