"""Console sessions: a signed, HttpOnly, SameSite cookie (itsdangerous) holding who is logged
in and the session's CSRF token. Nothing about a session is stored in the database."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

from bot.web_login import WebUser

COOKIE = "dudao_console"
SECRET_FILE = Path("var") / "web-session-secret"


@dataclass(frozen=True)
class Session:
    csrf: str
    user: WebUser | None = None


def session_secret(configured: str, path: Path = SECRET_FILE) -> str:
    """The configured secret, else one generated once and kept (mode 600) under var/."""
    if configured:
        return configured
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


class Sessions:
    def __init__(self, secret: str, max_age_seconds: int, secure: bool) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="dudao-console")
        self.max_age = max_age_seconds
        self.secure = secure

    def read(self, request: web.Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._signer.loads(raw, max_age=self.max_age)
        except BadSignature:  # also expired (SignatureExpired is a BadSignature)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("x"), str):
            return None
        user = None
        if isinstance(data.get("u"), int):
            user = WebUser(data["u"], str(data.get("c", "")), str(data.get("n", "")),
                           str(data.get("r", "")))
        return Session(data["x"], user)

    def write(self, response: web.StreamResponse, session: Session) -> None:
        data: dict[str, object] = {"x": session.csrf}
        if session.user is not None:
            user = session.user
            data.update(u=user.user_id, c=user.code, n=user.name, r=user.role)
        response.set_cookie(COOKIE, self._signer.dumps(data), max_age=self.max_age,
                            httponly=True, samesite="Lax", secure=self.secure, path="/")

    @staticmethod
    def fresh(user: WebUser | None = None) -> Session:
        """A new session (a new CSRF token at every login, so an old page's forms go stale)."""
        return Session(secrets.token_urlsafe(24), user)

    @staticmethod
    def clear(response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE, path="/")
