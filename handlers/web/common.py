"""What the console's pages share: the app keys, the session of a request, rendering and
refusals."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.bootstrap import Container
from bot.domain import DomainError, InvalidInput
from bot.messages import t
from bot.web_login import WebUser
from handlers.web.session import Session, Sessions

CONTAINER: web.AppKey[Container] = web.AppKey("console_container")
SESSIONS: web.AppKey[Sessions] = web.AppKey("console_sessions")
SESSION_KEY: web.RequestKey[Session] = web.RequestKey("console_session", Session)


def session_of(request: web.Request) -> Session:
    return request[SESSION_KEY]


def container_of(request: web.Request) -> Container:
    return request.app[CONTAINER]


def context(request: web.Request, **values: Any) -> dict[str, Any]:
    """What every template gets: the person, the CSRF token and the page's values."""
    session = session_of(request)
    return {"me": session.user, "csrf": session.csrf, "path": request.path, **values}


def render(request: web.Request, template: str, status: int = 200,
           **values: Any) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, context(request, **values),
                                          status=status)


def problem(request: web.Request, status: int, message: str) -> web.Response:
    return render(request, "problem.html", status=status, message=message)


def refusal(request: web.Request, err: DomainError) -> web.Response:
    """A service's refusal as a page: 404 for an unknown or not-yours case, 400 for bad
    input, 403 otherwise."""
    status = 404 if err.key == "case.error.not_found" else \
        400 if isinstance(err, InvalidInput) else 403
    return problem(request, status, t(err.key, **err.params))


def login_required(request: web.Request) -> WebUser:
    user = session_of(request).user
    if user is None:
        raise web.HTTPFound("/")
    return user


