"""Binding supervisors and office staff to their directory entry with a one-time code."""

from __future__ import annotations

import logging
from html import escape

from telegram import BotCommand, BotCommandScopeChat, MenuButtonWebApp, Update, WebAppInfo
from telegram.error import TelegramError

from bot.domain import DomainError
from bot.messages import t
from handlers.telegram.context import DudaoContext
from handlers.telegram.views import refusal_html

log = logging.getLogger(__name__)


async def bind_with_code(update: Update, context: DudaoContext, code: str) -> None:
    """Claim an invite code for the sender; a bad, used or expired code binds nobody."""
    user = update.effective_user
    message = update.effective_message
    assert user is not None and message is not None
    code = code.strip()
    if not code or len(code) > 32 or not code.isalnum():
        await message.reply_html(t("invite.error.invalid"))
        return
    try:
        person = await context.services.container.invites.bind(user.id, code)
    except DomainError as err:
        await message.reply_html(refusal_html(err))
        return
    next_step = "staff" if person.role == "staff" else "supervisor"
    await message.reply_html(t("invite.bound", name=escape(person.name),
                               role_name=t(f"role.{person.role}")) + "\n"
                             + t(f"invite.next.{next_step}"))
    await show_commands(context, user.id, person.role)


SUPERVISOR_COMMANDS = ("cases", "visit", "visits", "web", "help")
STAFF_COMMANDS = ("office", "triage", "approvals", "verify", "extensions", "overdue", "case",
                  "entity", "export", "reports", "retrain", "hotspots", "night", "web", "help")


async def show_commands(context: DudaoContext, chat_id: int, role: str) -> None:
    """Give a bound person's chat the command menu of their role."""
    names = STAFF_COMMANDS if role == "staff" else SUPERVISOR_COMMANDS
    commands = [BotCommand(name, t(f"command.{name}")) for name in names]
    try:
        await context.bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id))
    except TelegramError:  # the menu is a convenience; binding already succeeded
        log.warning("could not set the command menu for chat %s", chat_id)
    await show_console_button(context, chat_id)


async def show_console_button(context: DudaoContext, chat_id: int) -> None:
    """The chat's menu button opens the office console as a Mini App (Telegram accepts only
    https addresses for Mini Apps; without one, /web links are the way in)."""
    base = context.services.settings.web.public_url
    if not base.startswith("https://"):
        return
    button = MenuButtonWebApp(t("web.menu_button"), WebAppInfo(f"{base}/app"))
    try:
        await context.bot.set_chat_menu_button(chat_id=chat_id, menu_button=button)
    except TelegramError:
        log.warning("could not set the console menu button for chat %s", chat_id)


async def web_command(update: Update, context: DudaoContext) -> None:
    """/web: a one-time console login link for bound staff and supervisors."""
    user = update.effective_user
    message = update.effective_message
    assert user is not None and message is not None
    container = context.services.container
    try:
        token, _ = await container.web_login.issue(user.id)
    except DomainError as err:
        await message.reply_html(refusal_html(err))
        return
    web = container.settings.web
    url = f"{web.base_url()}/login/{token}"
    await show_console_button(context, user.id)
    # No link preview: Telegram's preview fetcher must not be the one to open the link.
    await message.reply_text(t("web.command.link", minutes=web.login_link_minutes, url=url),
                             disable_web_page_preview=True)


async def bind_command(update: Update, context: DudaoContext) -> None:
    """Bind with /bind CODE."""
    if not context.args:
        message = update.effective_message
        assert message is not None
        await message.reply_html(t("invite.usage"))
        return
    await bind_with_code(update, context, context.args[0])
