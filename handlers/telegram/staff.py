"""Binding supervisors and office staff to their directory entry with a one-time code."""

from __future__ import annotations

from telegram import Update

from bot.domain import DomainError
from bot.messages import explain, t
from handlers.telegram.context import DudaoContext


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
        await message.reply_html(explain(err.key, err.params))
        return
    await message.reply_html(t("invite.bound", name=person.name,
                               role_name=t(f"role.{person.role}")))


async def bind_command(update: Update, context: DudaoContext) -> None:
    """Bind with /bind CODE."""
    if not context.args:
        message = update.effective_message
        assert message is not None
        await message.reply_html(t("invite.usage"))
        return
    await bind_with_code(update, context, context.args[0])
