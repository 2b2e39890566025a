"""Routes, session and CSRF handling of the office console.

Handlers parse the request, call the container's services (which decide who may do what)
and render templates; a refusal is the service's Chinese text, and changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.bootstrap import Container
from bot.console import QueueFilters
from bot.domain import (
    CATEGORIES,
    PROPOSABLE,
    CaseAction,
    Disposition,
    DomainError,
    InvalidInput,
    Status,
)
from bot.messages import CATALOGUE, t
from bot.services import CHANNEL
from bot.web_login import WebUser
from handlers.web import pages
from handlers.web.common import (
    CONTAINER,
    SESSION_KEY,
    SESSIONS,
    container_of,
    login_required,
    problem,
    refusal,
    render,
    session_of,
)
from handlers.web.session import Sessions, session_secret

HERE = Path(__file__).parent
COMMENT_LIMIT = 1000
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def console_routes(container: Container) -> Callable[[web.Application], None]:
    """The hook `make_web_app(routes=[...])` takes: adds every console route."""

    def add(app: web.Application) -> None:
        settings = container.settings.web
        env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"),
                                   autoescape=True)
        env.globals.update(t=t, category_name=pages.category_name,
                           status_name=pages.status_name)
        tz = container.settings.tz
        env.filters["day"] = lambda moment: moment.astimezone(tz).strftime("%Y-%m-%d")
        env.filters["minute"] = lambda moment: moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        app[CONTAINER] = container
        app[SESSIONS] = Sessions(session_secret(settings.session_secret),
                                 settings.session_hours * 3600,
                                 settings.public_url.startswith("https://"))
        app.middlewares.append(_console_middleware)
        r = app.router
        r.add_get("/", home)
        r.add_get("/login/{token}", login_page)
        r.add_post("/login/{token}", login)
        r.add_get("/app", mini_app)
        r.add_post("/auth/telegram", mini_app_login)
        r.add_post("/logout", logout)
        r.add_get("/cases", queue)
        r.add_get("/cases/{reference}", case_page)
        r.add_post("/cases/{reference}/act", case_action)
        r.add_get("/dashboard", pages.dashboard)
        r.add_get("/dashboard/chart.png", pages.chart)
        r.add_get("/downloads/report.xlsx", pages.report_download)
        r.add_get("/downloads/export.xlsx", pages.export_download)
        r.add_get("/directory", pages.directory)
        r.add_post("/directory/preview", pages.directory_preview)
        r.add_post("/directory/import", pages.directory_import)
        r.add_static("/static", HERE / "static", name="static")

    return add


CONSOLE_PREFIXES = ("/login/", "/app", "/auth/", "/logout", "/cases", "/dashboard",
                    "/downloads/", "/directory")


@web.middleware
async def _console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Per console request: the session (a fresh anonymous one if none), the CSRF check on
    every POST, the "web" channel for the audit trail, and the session cookie written back."""
    path = request.path
    if not (path == "/" or path.startswith(CONSOLE_PREFIXES)):
        try:
            return await handler(request)
        except web.HTTPNotFound:  # an address nothing serves: said in Chinese, not aiohttp's
            return web.Response(status=404, text=t("web.error.no_such_page"),
                                content_type="text/plain", charset="utf-8")
    sessions = request.app[SESSIONS]
    existing = sessions.read(request)
    session = existing or Sessions.fresh()
    request[SESSION_KEY] = session
    if request.method == "POST":
        form = await request.post()
        given = str(form.get("csrf", ""))
        if existing is None or not secrets.compare_digest(given.encode(),
                                                          existing.csrf.encode()):
            return problem(request, 403, t("web.error.csrf"))
    CHANNEL.set("web")
    try:
        response = await handler(request)
    except web.HTTPNotFound:
        response = problem(request, 404, t("web.error.no_such_page"))
    if existing is None and SESSION_KEY in request and not response.cookies.get("dudao_console"):
        sessions.write(response, request[SESSION_KEY])
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def _logged_in(request: web.Request, user: WebUser, to: str = "/cases") -> NoReturn:
    response = web.HTTPSeeOther(to)
    session = Sessions.fresh(user)
    request[SESSION_KEY] = session
    request.app[SESSIONS].write(response, session)
    raise response


# --- login ------------------------------------------------------------------------------

async def home(request: web.Request) -> web.StreamResponse:
    if session_of(request).user is not None:
        raise web.HTTPFound("/cases")
    return render(request, "home.html")


async def login_page(request: web.Request) -> web.StreamResponse:
    """Show a button; only its POST uses the link (so a link preview cannot spend it)."""
    return render(request, "login.html", token=request.match_info["token"])


async def login(request: web.Request) -> web.StreamResponse:
    try:
        user = await container_of(request).web_login.redeem(request.match_info["token"])
    except DomainError as err:
        return problem(request, 403, t(err.key, **err.params))
    _logged_in(request, user)


async def mini_app(request: web.Request) -> web.StreamResponse:
    """The Mini App's first page: its script posts Telegram's initData to /auth/telegram."""
    return render(request, "app.html")


async def mini_app_login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        user = await container_of(request).web_login.from_init_data(
            str(form.get("init_data", "")))
    except DomainError as err:
        return problem(request, 403, t(err.key, **err.params))
    _logged_in(request, user)


async def logout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/")
    request[SESSION_KEY] = Sessions.fresh()
    request.app[SESSIONS].write(response, request[SESSION_KEY])
    raise response


# --- the case list ------------------------------------------------------------------------

def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 19 else None


def filters_of(request: web.Request) -> QueueFilters:
    q = request.query
    return QueueFilters(
        status=q.get("status", ""), category=q.get("category", ""),
        district=q.get("district", "").strip()[:32], school=q.get("school", "").strip()[:32],
        supervisor=q.get("supervisor", "").strip()[:32],
        date_from=_day(q.get("from", "")), date_to=_day(q.get("to", "")),
        overdue=q.get("overdue") == "1", text=q.get("q", ""),
        before=_int(q.get("before", "")))


async def queue(request: web.Request) -> web.StreamResponse:
    user = login_required(request)
    filters = filters_of(request)
    container = container_of(request)
    try:
        page = await container.console.queue(user, filters)
    except DomainError as err:
        return refusal(request, err)
    params = {k: v for k, v in request.query.items() if k != "before" and v}
    next_url = None
    if page.next_before is not None:
        next_url = "/cases?" + urlencode({**params, "before": page.next_before})
    return render(request, "queue.html", page=page, filters=filters, query=request.query,
                  statuses=[s for s in Status], categories=CATEGORIES, next_url=next_url,
                  first_url="/cases?" + urlencode(params) if filters.before else None,
                  today=container.console.today())


# --- one case -------------------------------------------------------------------------------

async def case_page(request: web.Request) -> web.StreamResponse:
    user = login_required(request)
    container = container_of(request)
    try:
        view = await container.console.case(user, request.match_info["reference"])
    except DomainError as err:
        return refusal(request, err)
    done = request.query.get("done", "")
    notice = t(f"web.done.{done}") if f"web.done.{done}" in CATALOGUE else None
    return render(request, "case.html", view=view, case=view.case, notice=notice,
                  timeline=pages.timeline(view, container.settings.tz),
                  actions={a.value for a in view.actions}, categories=CATEGORIES,
                  dispositions=[d for d in Disposition if d in PROPOSABLE],
                  tz=container.settings.tz)


async def case_action(request: web.Request) -> web.StreamResponse:
    """One action from the case page's forms, carried out by the chat's own services."""
    user = login_required(request)
    reference = request.match_info["reference"].strip().upper()[:32]
    form = await request.post()
    action = str(form.get("action", ""))
    text = str(form.get("comment", "")).strip()[:COMMENT_LIMIT]
    try:
        done = await _perform(container_of(request), user, reference, action, form, text)
    except DomainError as err:
        return refusal(request, err)
    where = f"/cases/{done or reference}?done={action}"
    raise web.HTTPSeeOther(where)


async def _perform(c: Container, user: WebUser, ref: str, action: str, form: Any,
                   text: str) -> str | None:
    uid = user.user_id
    if action not in {a.value for a in CaseAction} and action != "merge":
        raise InvalidInput("web.error.unknown_action")
    if user.is_staff:
        match action:
            case CaseAction.APPROVE:
                await c.office.approve(uid, ref)
            case CaseAction.REJECT:
                if not text:
                    raise InvalidInput("case.error.comment_required")
                await c.office.reject(uid, ref, text)
            case CaseAction.SUPERVISE:
                await c.office.supervise(uid, ref, text)
            case CaseAction.VERIFY_PASS:
                await c.office.verify_passed(uid, ref)
            case CaseAction.VERIFY_FAIL:
                days = _int(str(form.get("days", ""))) or 0
                await c.office.verify_failed(uid, ref, c.office.deadline_after(days), text)
            case CaseAction.GRANT_EXTENSION:
                await c.office.grant_extension(uid, ref)
            case CaseAction.REFUSE_EXTENSION:
                await c.office.refuse_extension(uid, ref, text)
            case CaseAction.TRIAGE | CaseAction.REASSIGN:
                await c.triage.triage(uid, ref, str(form.get("category", "")),
                                      str(form.get("supervisor", "")).strip())
            case "merge":
                target = str(form.get("target", "")).strip().upper()[:32]
                await c.merging.merge(uid, ref, target)
            case _:
                raise DomainError("case.error.staff_only")
        return None
    s = c.supervision
    match action:
        case CaseAction.ACCEPT:
            await s.accept(uid, ref)
        case CaseAction.HAND_BACK:
            await s.hand_back(uid, ref, text)
        case CaseAction.ASK:
            await s.ask_parent(uid, ref, text)
        case CaseAction.PROPOSE:
            raw = str(form.get("disposition", ""))
            disposition = next((d for d in PROPOSABLE if d.value == raw), None)
            if disposition is None:
                raise InvalidInput("web.error.unknown_action")
            deadline = None
            if disposition is Disposition.RECTIFY:
                deadline = s.deadline_after(_int(str(form.get("days", ""))) or 0)
            await s.propose(uid, ref, disposition, note=text, deadline=deadline,
                            transfer_to=str(form.get("transfer_to", "")).strip()[:100])
        case CaseAction.REPORT_DONE:
            await s.report_rectified(uid, ref, text)
        case CaseAction.REQUEST_EXTENSION:
            days = _int(str(form.get("days", ""))) or 0
            _, case = await c.cases.view(uid, ref)
            wanted = dict(s.extension_choices(case, s.today())).get(days)
            if wanted is None:
                raise InvalidInput("web.error.unknown_action")
            await s.request_extension(uid, ref, wanted, text)
        case _:
            # Staff actions posted by a supervisor: the same refusal as in chat.
            raise DomainError("case.error.staff_only")
    return None


