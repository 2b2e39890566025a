"""The real python-telegram-bot Application against the local Bot API, end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from localapi import LocalBotApi
from localapi.media import tiny_png
from localapi.ptb import application_builder, polling

App = Application[Any, Any, Any, Any, Any, Any]
Context = ContextTypes.DEFAULT_TYPE


async def on_start(update: Update, context: Context) -> None:
    """Greet with an inline choice."""
    assert update.effective_message is not None
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("匿名", callback_data="anon"),
                                      InlineKeyboardButton("实名", callback_data="named")]])
    await update.effective_message.reply_text("<b>欢迎</b>，请选择：", parse_mode="HTML",
                                              reply_markup=keyboard)


async def on_choice(update: Update, context: Context) -> None:
    """Answer the press and replace the question by the choice."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer("已选择")
    await query.edit_message_text(f"您选择了：{'匿名' if query.data == 'anon' else '实名'}")


async def on_phone(update: Update, context: Context) -> None:
    """Ask for the phone number with a request_contact keyboard."""
    assert update.effective_message is not None
    keyboard = ReplyKeyboardMarkup([[KeyboardButton("分享手机号", request_contact=True)]],
                                   one_time_keyboard=True, resize_keyboard=True)
    await update.effective_message.reply_text("请分享手机号", reply_markup=keyboard)


async def on_contact(update: Update, context: Context) -> None:
    """Thank for the contact and remove the keyboard."""
    message = update.effective_message
    assert message is not None and message.contact is not None
    own = message.contact.user_id == message.chat_id
    await message.reply_text(f"收到 {message.contact.phone_number} own={own}",
                             reply_markup=ReplyKeyboardRemove())


async def on_file(update: Update, context: Context) -> None:
    """Download a photo or document and report its size and first bytes."""
    message = update.effective_message
    assert message is not None
    attachment = message.photo[-1] if message.photo else message.document
    assert attachment is not None
    data = await (await attachment.get_file()).download_as_bytearray()
    name = message.document.file_name if message.document else "photo"
    await message.reply_text(f"{name} {len(data)} {bytes(data[:4])!r}")


async def on_unsupported(update: Update, context: Context) -> None:
    """Refuse stickers and voice notes."""
    assert update.effective_message is not None
    await update.effective_message.reply_text("不支持此类消息")


async def on_chart(update: Update, context: Context) -> None:
    """Send an uploaded photo."""
    assert update.effective_chat is not None
    await context.bot.send_chat_action(update.effective_chat.id, "upload_photo")
    await context.bot.send_photo(update.effective_chat.id, tiny_png(64, 48), caption="图表")


async def on_text(update: Update, context: Context) -> None:
    """Echo text."""
    assert update.effective_message is not None and update.effective_message.text
    await update.effective_message.reply_text(update.effective_message.text)


def build_bot(api: LocalBotApi) -> App:
    """Build the test bot: commands, buttons, contact, files and an echo."""
    app = application_builder(api).build()
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(CommandHandler("phone", on_phone))
    app.add_handler(CommandHandler("chart", on_chart))
    app.add_handler(CallbackQueryHandler(on_choice))
    app.add_handler(MessageHandler(filters.CONTACT, on_contact))
    app.add_handler(MessageHandler(filters.PHOTO | filters.Document.ALL, on_file))
    app.add_handler(MessageHandler(filters.Sticker.ALL | filters.VOICE, on_unsupported))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    return app


@pytest.fixture
async def api() -> AsyncIterator[LocalBotApi]:
    async with LocalBotApi() as server:
        yield server


@pytest.fixture
async def running(api: LocalBotApi) -> AsyncIterator[App]:
    async with polling(build_bot(api)) as app:
        yield app


async def test_echo_and_command_with_inline_keyboard(api: LocalBotApi, running: App) -> None:
    parent = api.user(1001, "王芳", username="wangfang")
    await parent.send_text("孩子作业太多")
    assert (await parent.wait_for_message()).text == "孩子作业太多"
    await parent.send_text("/start")
    question = await parent.wait_for_message()
    assert question.text == "欢迎，请选择：" and question.html == "<b>欢迎</b>，请选择："
    assert question.buttons == [["匿名", "实名"]]
    query_id = await parent.press("匿名")
    edited = await parent.wait_for_message()
    assert edited.message_id == question.message_id and edited.edit_date is not None
    assert edited.text == "您选择了：匿名" and edited.buttons == []
    answer = await parent.wait_for_callback_answer(query_id)
    assert answer.text == "已选择" and answer.data == "anon"
    assert [m.text for m in parent.messages] == ["孩子作业太多", "您选择了：匿名"]


async def test_contact_shared_through_request_contact_keyboard(
        api: LocalBotApi, running: App) -> None:
    parent = api.user(1002, "李娜", phone_number="+8613800000000")
    await parent.send_text("/phone")
    await parent.wait_for_message()
    assert parent.reply_keyboard == [["分享手机号"]]
    assert await parent.press("分享手机号") is None
    reply = await parent.wait_for_message()
    assert reply.text == "收到 +8613800000000 own=True"
    assert parent.reply_keyboard is None


async def test_photo_and_document_are_downloaded_by_the_bot(api: LocalBotApi,
                                                            running: App) -> None:
    parent = api.user(1003, "张伟")
    await parent.send_photo(tiny_png(800, 600), caption="收费单")
    reply = await parent.wait_for_message()
    assert reply.text is not None and reply.text.startswith("photo ")
    assert reply.text.endswith(repr(b"\x89PNG"))
    await parent.send_document(b"%PDF-1.4 fake", "通知.pdf")
    reply = await parent.wait_for_message()
    assert reply.text == f"通知.pdf 13 {b'%PDF'!r}"


async def test_bot_sends_a_photo_the_user_can_open(api: LocalBotApi, running: App) -> None:
    parent = api.user(1004, "赵敏")
    await parent.send_text("/chart")
    chart = await parent.wait_for_message()
    assert chart.kind == "photo" and chart.text == "图表"
    assert chart.file_id is not None and parent.download(chart.file_id) == tiny_png(64, 48)
    assert parent.chat_actions == ["upload_photo"]


async def test_stickers_and_voice_get_an_answer(api: LocalBotApi, running: App) -> None:
    parent = api.user(1005, "钱多")
    await parent.send_sticker()
    assert (await parent.wait_for_message()).text == "不支持此类消息"
    await parent.send_voice()
    assert (await parent.wait_for_message()).text == "不支持此类消息"


async def test_set_my_commands_is_stored(api: LocalBotApi) -> None:
    async with build_bot(api) as app:
        commands = [BotCommand("start", "开始"), BotCommand("cases", "我的案件")]
        assert await app.bot.set_my_commands(commands) is True
        assert list(await app.bot.get_my_commands()) == commands
    assert api.bot().commands["default///"][1] == {"command": "cases",
                                                    "description": "我的案件"}


async def test_injected_errors_raise_the_matching_ptb_errors(api: LocalBotApi) -> None:
    parent = api.user(1006, "孙丽")
    await parent.send_text("hi")
    async with build_bot(api) as app:
        api.fail_next("sendMessage", error_code=429, retry_after=3)
        with pytest.raises(RetryAfter, match="Retry in 3 seconds"):
            await app.bot.send_message(parent.id, "x")
        api.fail_next("sendMessage", error_code=400, description="Bad Request: injected")
        with pytest.raises(BadRequest, match=r"(?i)injected"):
            await app.bot.send_message(parent.id, "x")
        api.fail_next("sendMessage", error_code=500)
        with pytest.raises(NetworkError):
            await app.bot.send_message(parent.id, "x")
        api.fail_next("sendMessage", drop=True)
        with pytest.raises(NetworkError):
            await app.bot.send_message(parent.id, "x")
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await app.bot.send_message(parent.id, "a <b", parse_mode="HTML")
        parent.block()
        with pytest.raises(Forbidden):
            await app.bot.send_message(parent.id, "x")
        parent.unblock()
        # After the failures the next message goes through.
        await app.bot.send_message(parent.id, "终于送达")
    assert [m.text for m in parent.messages] == ["终于送达"]
    assert [c.status for c in api.calls_of("sendMessage")] == [429, 400, 500, 0, 400, 403, 200]


async def test_updates_survive_a_failing_get_updates(api: LocalBotApi) -> None:
    parent = api.user(1007, "周杰")
    await parent.send_text("第一条")
    api.fail_next("getUpdates", error_code=502)
    async with polling(build_bot(api)):
        assert (await parent.wait_for_message()).text == "第一条"
    assert [c.status for c in api.calls_of("getUpdates")][:2] == [502, 200]


async def test_many_users_at_once(api: LocalBotApi, running: App) -> None:
    users = [api.user(2000 + i, f"用户{i}") for i in range(20)]

    async def converse(user: Any) -> str:
        await user.send_text(f"我是{user.first_name}")
        return str((await user.wait_for_message()).text)

    replies = await asyncio.gather(*(converse(u) for u in users))
    assert replies == [f"我是用户{i}" for i in range(20)]


async def test_media_group_sends_an_album_by_upload_and_by_file_id(api: LocalBotApi) -> None:
    from telegram import InputMediaDocument, InputMediaPhoto

    parent = api.user(1011, "周红")
    await parent.send_text("hi")
    async with build_bot(api) as app:
        first = await app.bot.send_photo(parent.id, tiny_png(10, 8))
        known = first.photo[-1].file_id
        album = await app.bot.send_media_group(parent.id, [
            InputMediaPhoto(known, caption="第一张"), InputMediaPhoto(tiny_png(20, 16))])
        assert len(album) == 2 and album[0].media_group_id == album[1].media_group_id
        assert album[0].photo[-1].file_id == known and album[0].caption == "第一张"
        assert parent.download(album[1].photo[-1].file_id) == tiny_png(20, 16)
        docs = await app.bot.send_media_group(parent.id, [
            InputMediaDocument(b"%PDF-1 a", filename="a.pdf"),
            InputMediaDocument(b"%PDF-1 b", filename="b.pdf")])
        assert [d.document.file_name for d in docs] == ["a.pdf", "b.pdf"]
        with pytest.raises(BadRequest, match=r"(?i)media_group_invalid"):
            await app.bot.send_media_group(parent.id, [
                InputMediaPhoto(known), InputMediaDocument(b"%PDF-1 c", filename="c.pdf")])
        with pytest.raises(BadRequest, match="2-10 items"):
            await app.bot.send_media_group(parent.id, [InputMediaPhoto(known)])
    sent = [m for m in parent.messages if m.kind in ("photo", "document")]
    assert len(sent) == 5  # the refused groups sent nothing
