"""Method parameters from any encoding Telegram accepts: query string, JSON, form, multipart.

python-telegram-bot 22 sends form-urlencoded bodies (multipart when files are attached) in
which every non-string value is JSON-encoded: numbers arrive as "123", booleans as "true",
reply_markup as a JSON string. Other clients send a JSON body with native values. Params
accepts both and converts on access.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from localapi.state import bad_request

# Parameters whose values are JSON objects or arrays (decoded for the call log).
_JSON_PARAMETERS = frozenset({
    "reply_markup", "entities", "caption_entities", "reply_parameters", "allowed_updates",
    "commands", "scope", "link_preview_options", "media",
})


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    file_name: str
    content_type: str | None
    data: bytes


class Params:
    """The parameters of one call, with typed accessors that fail like Telegram does."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __contains__(self, name: str) -> bool:
        return self._values.get(name) not in (None, "")

    def raw(self, name: str) -> Any:
        """Return the value as received, or None."""
        return self._values.get(name)

    def get_str(self, name: str, *, required: bool = False) -> str | None:
        """Return a string parameter."""
        value = self._values.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, UploadedFile):
            raise bad_request(f"wrong type of parameter {name}")
        return value if isinstance(value, str) else json.dumps(value)

    def get_int(self, name: str, *, required: bool = False) -> int | None:
        """Return an integer parameter (native or decimal string)."""
        value = self._values.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, bool):
            raise bad_request(f"invalid {name} specified")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def get_float(self, name: str) -> float | None:
        """Return a number parameter (native or decimal string)."""
        value = self._values.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        """Return a boolean parameter (native, "true"/"false", "1"/"0")."""
        value = self._values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("true", "1")

    def get_json(self, name: str) -> Any:
        """Return a parameter that holds a JSON object or array, decoded."""
        value = self._values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value

    def get_file(self, name: str) -> UploadedFile | str | None:
        """Return an uploaded file, or the file_id / URL string given instead."""
        value = self._values.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            value = self._values.get(value.removeprefix("attach://"))
        if value is None or value == "":
            return None
        if isinstance(value, UploadedFile):
            return value
        return value if isinstance(value, str) else json.dumps(value)

    def resolve_file(self, value: Any) -> UploadedFile | str | None:
        """Return what one InputMedia's `media` names: an upload (attach://<part>) or a
        file_id / URL string."""
        if isinstance(value, str) and value.startswith("attach://"):
            found = self._values.get(value.removeprefix("attach://"))
            return found if isinstance(found, UploadedFile) else None
        return value if isinstance(value, str) and value else None

    def for_log(self) -> dict[str, Any]:
        """Return the parameters for the call log: files described, JSON strings decoded."""
        logged: dict[str, Any] = {}
        for name, value in self._values.items():
            if isinstance(value, UploadedFile):
                logged[name] = {"file_name": value.file_name, "size": len(value.data)}
            elif isinstance(value, str) and name in _JSON_PARAMETERS:
                try:
                    logged[name] = json.loads(value)
                except ValueError:
                    logged[name] = value
            else:
                logged[name] = value
        return logged


async def read_params(request: web.Request) -> Params:
    """Collect the parameters of a request from its query string and body."""
    values: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON request body") from None
            if not isinstance(body, dict):
                raise bad_request("JSON request body must be an object")
            values.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            values.update(_form_values(await request.post()))
    return Params(values)


def _form_values(form: MultiDictProxy[Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in form.items():
        if isinstance(value, web.FileField):
            values[name] = UploadedFile(value.filename, value.content_type, value.file.read())
        else:
            values[name] = value
    return values
