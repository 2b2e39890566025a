"""Logging in to the office console: one-time links sent by /web, and Telegram Mini App
`initData` checked with the bot token.

Both end in the same `WebUser`: a bound directory person (office staff or a supervisor)
identified by their Telegram user id, so the console calls the same services as the chat.
Links are stored hashed, expire after `link_minutes` and can be used once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from bot.domain import DomainError
from bot.ports import SUPERVISOR_ROLES, Clock, UnitOfWorkFactory

LINK_MINUTES = 10
INIT_DATA_MAX_AGE = timedelta(days=1)
PURGE_AFTER = timedelta(days=1)  # expired links are kept a day (for a look after a problem)


@dataclass(frozen=True)
class WebUser:
    """Who is logged in to the console."""

    user_id: int  # the Telegram user id the services identify people by
    code: str
    name: str
    role: str  # staff | responsible | tutoring

    @property
    def is_staff(self) -> bool:
        return self.role == "staff"


def hash_token(token: str) -> str:
    """Login tokens are kept hashed: a database leak yields no usable link."""
    return hashlib.sha256(token.encode()).hexdigest()


def init_data_user(init_data: str, bot_token: str, now: datetime,
                   max_age: timedelta = INIT_DATA_MAX_AGE) -> int:
    """The Telegram user id in a Mini App's `initData`, if Telegram signed it for this bot
    and it is not older than `max_age`; otherwise DomainError("web.error.init_data").

    Telegram's rule: secret_key = HMAC_SHA256(key="WebAppData", msg=bot_token); the hash
    is hex HMAC_SHA256(key=secret_key, msg=data_check_string), where data_check_string is
    every other field as `key=value`, sorted by key and joined by newlines.
    """
    refused = DomainError("web.error.init_data")
    try:
        fields = dict(parse_qsl(init_data, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise refused from None
    given = fields.pop("hash", "")
    if not given or not bot_token:
        raise refused
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    expected = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        raise refused
    try:
        signed_at = datetime.fromtimestamp(int(fields["auth_date"]), UTC)
        user_id = int(json.loads(fields["user"])["id"])
    except (KeyError, ValueError, TypeError, OverflowError):
        raise refused from None
    if not -timedelta(minutes=5) <= now - signed_at <= max_age:
        raise refused
    return user_id


def sign_init_data(fields: dict[str, str], bot_token: str) -> str:
    """`initData` as Telegram would send it for these fields (the local Bot API and tests)."""
    from urllib.parse import urlencode

    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    digest = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode({**fields, "hash": digest})


class WebLoginService:
    """Issues and redeems console logins; only bound staff and supervisors get one."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, bot_token: str, *,
                 link_minutes: int = LINK_MINUTES,
                 init_data_max_age: timedelta = INIT_DATA_MAX_AGE) -> None:
        self.uow = uow
        self.clock = clock
        self.bot_token = bot_token
        self.link_minutes = link_minutes
        self.init_data_max_age = init_data_max_age

    async def user(self, user_id: int) -> WebUser:
        """The bound staff member or supervisor behind this Telegram user, or a refusal."""
        async with self.uow.read() as uow:
            person = await uow.directory.person_by_user(user_id)
        if person is None or (person.role != "staff" and person.role not in SUPERVISOR_ROLES):
            raise DomainError("web.error.not_bound")
        return WebUser(user_id, person.code, person.name, person.role)

    async def issue(self, user_id: int) -> tuple[str, datetime]:
        """A fresh one-time token for this person and when it expires."""
        await self.user(user_id)
        now = self.clock.now()
        token = secrets.token_urlsafe(32)
        expires = now + timedelta(minutes=self.link_minutes)
        async with self.uow() as uow:
            await uow.web_logins.purge(now - PURGE_AFTER)  # the table stays small
            await uow.web_logins.add(hash_token(token), user_id, now, expires)
            await uow.commit()
        return token, expires

    async def redeem(self, token: str) -> WebUser:
        """Use a login link: once, before it expires, by a person still bound."""
        if not token or len(token) > 128:
            raise DomainError("web.error.link_invalid")
        async with self.uow() as uow:
            user_id = await uow.web_logins.claim(hash_token(token), self.clock.now())
            if user_id is None:
                raise DomainError("web.error.link_invalid")
            await uow.commit()
        return await self.user(user_id)

    async def from_init_data(self, init_data: str) -> WebUser:
        """The person a Mini App was opened by, if Telegram signed it recently."""
        user_id = init_data_user(init_data, self.bot_token, self.clock.now(),
                                 self.init_data_max_age)
        return await self.user(user_id)
