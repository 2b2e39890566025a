"""Binding supervisors and office staff to their directory entry with a one-time code."""

from __future__ import annotations

import logging
from html import escape

from telegram import BotCommand, BotCommandScopeChat, Update
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


SUPERVISOR_COMMANDS = ("cases", "visit", "visits", "help")
STAFF_COMMANDS = ("office", "triage", "approvals", "verify", "extensions", "overdue", "case",
                  "entity", "export", "reports", "retrain", "help")


async def show_commands(context: DudaoContext, chat_id: int, role: str) -> None:
    """Give a bound person's chat the command menu of their role."""
    names = STAFF_COMMANDS if role == "staff" else SUPERVISOR_COMMANDS
    commands = [BotCommand(name, t(f"command.{name}")) for name in names]
    try:
        await context.bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id))
    except TelegramError:  # the menu is a convenience; binding already succeeded
        log.warning("could not set the command menu for chat %s", chat_id)


async def bind_command(update: Update, context: DudaoContext) -> None:
    """Bind with /bind CODE."""
    if not context.args:
        message = update.effective_message
        assert message is not None
        await message.reply_html(t("invite.usage"))
        return
    await bind_with_code(update, context, context.args[0])
