"""The local Bot API over raw HTTP: envelopes, encodings, limits, long polling, failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from localapi import LocalBotApi, RandomFaults, RateLimits
from localapi.formatting import EntityParseError, command_entities, parse_html
from localapi.limits import RateLimiter
from localapi.media import image_size, tiny_png

TIMEOUT = aiohttp.ClientTimeout(total=10)


@pytest.fixture
async def api() -> AsyncIterator[LocalBotApi]:
    async with LocalBotApi() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


async def call(http: aiohttp.ClientSession, api: LocalBotApi, method: str,
               token: str | None = None, **params: Any) -> tuple[int, dict[str, Any]]:
    """POST a method with a JSON body; return the HTTP status and the decoded answer."""
    url = f"{api.base_url}{token or api.token}/{method}"
    async with http.post(url, json=params) as response:
        return response.status, await response.json()


async def started_user(api: LocalBotApi, user_id: int = 501) -> int:
    """Create a user who wrote to the bot (so the bot may answer) and confirm the update."""
    user = api.user(user_id, "李雷")
    await user.send_text("你好")
    api.bot().updates.confirm(10**9)
    return user.id


# --- envelopes and tokens ---

async def test_get_me_has_the_fields_telegram_sends(api: LocalBotApi, http: Any) -> None:
    status, body = await call(http, api, "getMe")
    assert status == 200 and body["ok"] is True
    me = body["result"]
    assert me["is_bot"] is True and me["username"] == "dudao_bot"
    for key in ("id", "first_name", "can_join_groups", "can_read_all_group_messages",
                "supports_inline_queries"):
        assert key in me
    assert api.token.split(":")[0] == str(me["id"])


async def test_unknown_token_is_unauthorized_and_unknown_method_not_found(
        api: LocalBotApi, http: Any) -> None:
    assert await call(http, api, "getMe", token="123456:ABCdefGhIJKlmnoPQRstuVWXyz123456789") \
        == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert (await call(http, api, "getMe", token="no-colon"))[0] == 404
    assert await call(http, api, "sendTelepathy") \
        == (404, {"ok": False, "error_code": 404, "description": "Not Found"})


async def test_second_bot_has_its_own_chats(api: LocalBotApi, http: Any) -> None:
    other = api.add_bot(username="other_bot")
    chat_id = await started_user(api)
    status, body = await call(http, api, "sendMessage", token=other.token,
                              chat_id=chat_id, text="hi")
    assert (status, body["description"]) == (400, "Bad Request: chat not found")
    assert (await call(http, api, "getMe", token=other.token))[1]["result"]["username"] \
        == "other_bot"


# --- parameter encodings ---

async def test_form_encoded_parameters_with_json_strings_are_decoded(
        api: LocalBotApi, http: aiohttp.ClientSession) -> None:
    chat_id = await started_user(api)
    markup = {"inline_keyboard": [[{"text": "是", "callback_data": "yes"}]]}
    form = {"chat_id": str(chat_id), "text": "要匿名吗？", "reply_markup": json.dumps(markup),
            "disable_notification": "true"}
    async with http.post(f"{api.base_url}{api.token}/sendMessage", data=form) as response:
        body = await response.json()
    assert body["result"]["reply_markup"] == markup
    assert api.user(chat_id).last_message is not None
    assert api.user(chat_id).last_message.callback_data == ["yes"]  # type: ignore[union-attr]


async def test_query_string_parameters_work(api: LocalBotApi, http: Any) -> None:
    chat_id = await started_user(api)
    url = f"{api.base_url}{api.token}/sendMessage"
    async with http.get(url, params={"chat_id": chat_id, "text": "查询"}) as response:
        assert (await response.json())["result"]["text"] == "查询"


async def test_multipart_upload_then_get_file_and_download(api: LocalBotApi, http: Any) -> None:
    chat_id = await started_user(api)
    form = aiohttp.FormData()
    form.add_field("chat_id", str(chat_id))
    form.add_field("caption", "<b>报表</b>")
    form.add_field("parse_mode", "HTML")
    form.add_field("document", b"a,b\n1,2\n", filename="report.csv", content_type="text/csv")
    async with http.post(f"{api.base_url}{api.token}/sendDocument", data=form) as response:
        message = (await response.json())["result"]
    document = message["document"]
    assert document["file_name"] == "report.csv" and document["mime_type"] == "text/csv"
    assert message["caption"] == "报表"
    assert message["caption_entities"] == [{"type": "bold", "offset": 0, "length": 2}]
    _, file = await call(http, api, "getFile", file_id=document["file_id"])
    path = file["result"]["file_path"]
    async with http.get(f"{api.base_file_url}{api.token}/{path}") as response:
        assert await response.read() == b"a,b\n1,2\n"
    # The same file_id can be sent again without uploading.
    status, again = await call(http, api, "sendDocument", chat_id=chat_id,
                               document=document["file_id"])
    assert status == 200 and again["result"]["document"]["file_id"] == document["file_id"]


async def test_photo_upload_must_be_an_image(api: LocalBotApi, http: Any) -> None:
    chat_id = await started_user(api)
    for payload, expected in ((b"not an image", 400), (tiny_png(640, 480), 200)):
        form = aiohttp.FormData()
        form.add_field("chat_id", str(chat_id))
        form.add_field("photo", payload, filename="chart.png", content_type="image/png")
        async with http.post(f"{api.base_url}{api.token}/sendPhoto", data=form) as response:
            body = await response.json()
            assert response.status == expected, body
    sizes = body["result"]["photo"]
    assert [(s["width"], s["height"]) for s in sizes] == [(320, 240), (640, 480)]


# --- messages ---

async def test_bot_cannot_write_first_and_blocked_users_give_403(
        api: LocalBotApi, http: Any) -> None:
    silent = api.user(777, "从未发言")
    assert (await call(http, api, "sendMessage", chat_id=silent.id, text="hi"))[1][
        "description"] == "Bad Request: chat not found"
    chat_id = await started_user(api)
    api.user(chat_id).block()
    blocked = {"ok": False, "error_code": 403,
               "description": "Forbidden: bot was blocked by the user"}
    assert await call(http, api, "sendMessage", chat_id=chat_id, text="hi") == (403, blocked)


async def test_text_length_is_counted_after_entity_parsing(api: LocalBotApi, http: Any) -> None:
    chat_id = await started_user(api)
    fits = "<b>" + "督" * 4096 + "</b>"
    status, body = await call(http, api, "sendMessage", chat_id=chat_id, text=fits,
                              parse_mode="HTML")
    assert status == 200 and len(body["result"]["text"]) == 4096
    status, body = await call(http, api, "sendMessage", chat_id=chat_id, text="督" * 4097)
    assert (status, body["description"]) == (400, "Bad Request: message is too long")
    status, body = await call(http, api, "sendMessage", chat_id=chat_id, text="  \n")
    assert body["description"] == "Bad Request: message text is empty"


async def test_html_is_stored_raw_and_plain(api: LocalBotApi, http: Any) -> None:
    chat_id = await started_user(api)
    html = '案件 <b>SJ-2026-000123</b> &lt;已受理&gt; <a href="https://x.cn">详情</a>'
    await call(http, api, "sendMessage", chat_id=chat_id, text=html, parse_mode="HTML")
    message = api.user(chat_id).last_message
    assert message is not None
    assert message.html == html
    assert message.text == "案件 SJ-2026-000123 <已受理> 详情"
    status, body = await call(http, api, "sendMessage", chat_id=chat_id,
                              text="家长说 <孩子> 作业太多", parse_mode="HTML")
    assert status == 400 and body["description"].startswith("Bad Request: can't parse entities")


async def test_callback_data_over_64_bytes_is_refused(api: LocalBotApi, http: Any) -> None:
    chat_id = await started_user(api)
    markup = {"inline_keyboard": [[{"text": "受理", "callback_data": "案" * 22}]]}  # 66 bytes
    status, body = await call(http, api, "sendMessage", chat_id=chat_id, text="x",
                              reply_markup=markup)
    assert (status, body["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")
    status, body = await call(http, api, "sendMessage", chat_id=chat_id, text="x",
                              reply_markup={"inline_keyboard": [[{"text": "只有字"}]]})
    assert status == 400


async def test_reply_keyboards_stay_on_the_client(api: LocalBotApi, http: Any) -> None:
    chat_id = await started_user(api)
    user = api.user(chat_id)
    keyboard = {"keyboard": [["我的案件", {"text": "分享手机号", "request_contact": True}]]}
    _, body = await call(http, api, "sendMessage", chat_id=chat_id, text="菜单",
                         reply_markup=keyboard)
    assert "reply_markup" not in body["result"]  # Telegram echoes inline keyboards only
    assert user.reply_keyboard == [["我的案件", "分享手机号"]]
    await call(http, api, "sendMessage", chat_id=chat_id, text="请补充",
               reply_markup={"force_reply": True, "input_field_placeholder": "补充材料"})
    assert user.reply_keyboard is not None
    assert user.last_message is not None and user.last_message.reply_markup is not None
    assert user.last_message.reply_markup["force_reply"] is True
    await call(http, api, "sendMessage", chat_id=chat_id, text="好",
               reply_markup={"remove_keyboard": True})
    assert user.reply_keyboard is None


async def test_press_and_forged_press_send_callback_queries(api: LocalBotApi,
                                                           http: Any) -> None:
    chat_id = await started_user(api)
    user = api.user(chat_id)
    markup = {"inline_keyboard": [[{"text": "受理", "callback_data": "s:acc:1"}]]}
    await call(http, api, "sendMessage", chat_id=chat_id, text="新案件", reply_markup=markup)
    with pytest.raises(LookupError):
        await user.press("不存在的按钮")
    pressed = await user.press("受理")
    forged = await user.press_forged("s:acc:999")
    _, body = await call(http, api, "getUpdates")
    queries = [u["callback_query"] for u in body["result"]]
    assert [q["id"] for q in queries] == [pressed, forged]
    assert [q["data"] for q in queries] == ["s:acc:1", "s:acc:999"]
    assert queries[0]["chat_instance"] == queries[1]["chat_instance"]
    assert queries[0]["message"]["text"] == "新案件"
    assert (await call(http, api, "answerCallbackQuery", callback_query_id=pressed,
                       text="已受理"))[0] == 200
    status, body = await call(http, api, "answerCallbackQuery", callback_query_id=pressed)
    assert status == 400 and "query is too old" in body["description"]
    answer = await user.wait_for_callback_answer(pressed)
    assert (answer.text, answer.data) == ("已受理", "s:acc:1")


async def test_follow_sees_every_message_and_edit(api: LocalBotApi, http: Any) -> None:
    chat_id = await started_user(api)
    transcript = api.user(chat_id).follow()
    _, body = await call(http, api, "sendMessage", chat_id=chat_id, text="一")
    await call(http, api, "editMessageText", chat_id=chat_id,
               message_id=body["result"]["message_id"], text="一（已改）")
    await call(http, api, "sendMessage", chat_id=chat_id, text="二")
    seen = [(await asyncio.wait_for(anext(transcript), 5)).text for _ in range(3)]
    assert seen == ["一", "一（已改）", "二"]


async def test_edits_follow_telegram_rules(api: LocalBotApi, http: Any) -> None:
    chat_id = await started_user(api)
    markup = {"inline_keyboard": [[{"text": "确认", "callback_data": "ok"}]]}
    _, sent = await call(http, api, "sendMessage", chat_id=chat_id, text="待确认",
                         reply_markup=markup)
    message_id = sent["result"]["message_id"]
    status, body = await call(http, api, "editMessageText", chat_id=chat_id,
                              message_id=message_id, text="待确认", reply_markup=markup)
    assert status == 400 and "message is not modified" in body["description"]
    # Editing the text without reply_markup removes the inline keyboard, as on Telegram.
    status, body = await call(http, api, "editMessageText", chat_id=chat_id,
                              message_id=message_id, text="已确认")
    assert status == 200 and "reply_markup" not in body["result"]
    assert body["result"]["edit_date"] >= body["result"]["date"]
    user = api.user(chat_id)
    assert [m.text for m in user.messages] == ["已确认"] and user.messages[0].buttons == []
    user_message_id = (await user.send_text("hi")).message_id
    assert user_message_id == message_id + 1  # ids are per chat, shared by both sides
    status, body = await call(http, api, "editMessageText", chat_id=chat_id,
                              message_id=user_message_id, text="x")
    assert body["description"] == "Bad Request: message can't be edited"
    assert (await call(http, api, "deleteMessage", chat_id=chat_id, message_id=message_id)) \
        == (200, {"ok": True, "result": True})
    assert user.messages == []


async def test_commands_are_stored_per_scope_and_language(api: LocalBotApi, http: Any) -> None:
    commands = [{"command": "start", "description": "开始"}, {"command": "cases",
                                                              "description": "我的案件"}]
    assert (await call(http, api, "setMyCommands", commands=commands))[1]["result"] is True
    staff = {"type": "chat", "chat_id": 9}
    await call(http, api, "setMyCommands", commands=commands[:1], scope=staff)
    assert (await call(http, api, "getMyCommands"))[1]["result"] == commands
    assert (await call(http, api, "getMyCommands", scope=staff))[1]["result"] == commands[:1]
    assert (await call(http, api, "getMyCommands", language_code="en"))[1]["result"] == []
    bad = [{"command": "Bad Command", "description": "x"}]
    assert (await call(http, api, "setMyCommands", commands=bad))[0] == 400
    await call(http, api, "deleteMyCommands")
    assert (await call(http, api, "getMyCommands"))[1]["result"] == []


async def test_a_chat_menu_button_opens_an_https_mini_app_with_signed_data(
        api: LocalBotApi, http: Any) -> None:
    import hashlib
    import hmac
    from urllib.parse import parse_qsl, unquote

    chat_id = await started_user(api, 77)
    assert (await call(http, api, "getChatMenuButton", chat_id=chat_id))[1]["result"] == {
        "type": "commands"}
    button = {"type": "web_app", "text": "工作台", "web_app": {"url": "http://plain.example"}}
    assert (await call(http, api, "setChatMenuButton", chat_id=chat_id,
                       menu_button=button))[0] == 400  # Mini Apps need https
    button["web_app"] = {"url": "https://console.example/app"}
    assert (await call(http, api, "setChatMenuButton", chat_id=chat_id,
                       menu_button=button))[1]["result"] is True
    assert (await call(http, api, "getChatMenuButton", chat_id=chat_id))[1]["result"] == button
    assert (await call(http, api, "setChatMenuButton", chat_id=424242,
                       menu_button=button))[0] == 400  # unknown chat
    user = api.user(77, "丙")
    opened = user.open_mini_app()
    assert opened.startswith("https://console.example/app#tgWebAppData=")
    data = dict(parse_qsl(unquote(opened.split("#tgWebAppData=")[1].split("&tgWebApp")[0])))
    given = data.pop("hash")
    check = "\n".join(f"{k}={data[k]}" for k in sorted(data))
    secret = hmac.new(b"WebAppData", api.token.encode(), hashlib.sha256).digest()
    assert hmac.new(secret, check.encode(), hashlib.sha256).hexdigest() == given
    assert json.loads(data["user"])["id"] == 77


# --- updates ---

async def test_long_poll_returns_as_soon_as_an_update_arrives(api: LocalBotApi,
                                                              http: Any) -> None:
    poll = asyncio.create_task(call(http, api, "getUpdates", timeout=30))
    await asyncio.sleep(0.05)  # let the poll start waiting
    assert not poll.done()
    await api.user(1, "甲").send_text("/start now")
    _, body = await asyncio.wait_for(poll, timeout=5)  # far below the 30 s poll
    update = body["result"][0]
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert update["message"]["chat"] == {"id": 1, "type": "private", "first_name": "甲"}


async def test_offset_confirms_updates(api: LocalBotApi, http: Any) -> None:
    user = api.user(2, "乙")
    for text in ("一", "二", "三"):
        await user.send_text(text)
    _, body = await call(http, api, "getUpdates")
    ids = [u["update_id"] for u in body["result"]]
    assert len(ids) == 3 and ids == sorted(ids)
    _, body = await call(http, api, "getUpdates", offset=ids[1], limit=1)
    assert [u["message"]["text"] for u in body["result"]] == ["二"]
    _, body = await call(http, api, "getUpdates", offset=-1)
    assert [u["message"]["text"] for u in body["result"]] == ["三"]
    _, body = await call(http, api, "getUpdates", offset=ids[2] + 1)
    assert body["result"] == []


async def test_a_second_poller_ends_the_first_with_conflict(api: LocalBotApi,
                                                            http: Any) -> None:
    first = asyncio.create_task(call(http, api, "getUpdates", timeout=30))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(call(http, api, "getUpdates", timeout=0))
    status, body = await asyncio.wait_for(first, timeout=5)
    assert status == 409 and body["description"].startswith("Conflict: terminated by other")
    assert (await asyncio.wait_for(second, timeout=5))[0] == 200


async def test_webhook_blocks_get_updates(api: LocalBotApi, http: Any) -> None:
    url = "http://127.0.0.1:9/hook"
    assert (await call(http, api, "setWebhook", url=url, secret_token="s3cr-et_"))[0] == 200
    status, body = await call(http, api, "getUpdates")
    assert status == 409 and "webhook is active" in body["description"]
    info = (await call(http, api, "getWebhookInfo"))[1]["result"]
    assert info["url"] == url and info["pending_update_count"] == 0
    assert (await call(http, api, "setWebhook", url=url, secret_token="has space"))[0] == 400
    await call(http, api, "deleteWebhook")
    assert (await call(http, api, "getUpdates"))[0] == 200


# --- limits and failures ---

async def test_flooding_one_chat_gets_429_with_retry_after(api: LocalBotApi,
                                                           http: Any) -> None:
    chat_id = await started_user(api)
    api.set_rate_limits(RateLimits(per_chat_burst=1))
    assert (await call(http, api, "sendMessage", chat_id=chat_id, text="1"))[0] == 200
    status, body = await call(http, api, "sendMessage", chat_id=chat_id, text="2")
    assert status == 429 and body["parameters"]["retry_after"] >= 1
    assert body["description"].startswith("Too Many Requests: retry after")
    api.set_rate_limits(None)
    assert (await call(http, api, "sendMessage", chat_id=chat_id, text="3"))[0] == 200


def test_rate_limiter_counts_attempts_per_second_and_paces_each_chat() -> None:
    clock = [100.0]
    limiter = RateLimiter(RateLimits(per_chat_rate=1, per_chat_burst=2, overall_rate=4),
                          clock=lambda: clock[0])
    limiter.admit(1)
    limiter.admit(1)
    with pytest.raises(Exception, match="retry after 1"):
        limiter.admit(1)  # the chat's burst of 2 is spent (the attempt still counts)
    limiter.admit(2)
    with pytest.raises(Exception, match="Too Many Requests"):
        limiter.admit(3)  # 4 attempts in this second, the refused one included
    clock[0] += 0.5
    with pytest.raises(Exception, match="Too Many Requests"):
        limiter.admit(3)  # still within one second of them
    clock[0] += 0.5
    limiter.admit(1)  # one second later: one more message per chat, the window moved on
    limiter.admit(3)


def test_a_group_gets_20_messages_in_any_minute() -> None:
    clock = [0.0]
    limiter = RateLimiter(RateLimits(), clock=lambda: clock[0])
    for _ in range(20):
        limiter.admit(-100)
        clock[0] += 1.0
    with pytest.raises(Exception, match="retry after 40"):
        limiter.admit(-100)
    clock[0] = 60.0
    limiter.admit(-100)


async def test_random_faults_hit_about_their_share_of_calls_repeatably(
        api: LocalBotApi, http: Any) -> None:
    chat_id = await started_user(api)
    api.set_random_faults(RandomFaults(rate=0.2, seed=3, kinds=("429", "500"),
                                       methods=frozenset({"sendmessage"})))
    statuses = [(await call(http, api, "sendMessage", chat_id=chat_id, text="x"))[0]
                for _ in range(200)]
    failed = sum(1 for s in statuses if s != 200)
    assert 25 <= failed <= 55 and set(statuses) <= {200, 429, 500}
    assert (await call(http, api, "getMe"))[0] == 200  # other methods untouched
    assert [c.injected for c in api.calls_of("sendMessage")].count(None) == 200 - failed
    again = RandomFaults(rate=0.2, seed=3, kinds=("429", "500"))
    assert [again.pick("sendMessage") for _ in range(200)] == \
        [c.injected for c in api.calls_of("sendMessage")]


async def test_injected_errors_then_recovery(api: LocalBotApi, http: Any) -> None:
    chat_id = await started_user(api)
    api.fail_next("sendMessage", times=2, error_code=500)
    api.fail_next("getMe", error_code=429, retry_after=7)
    for _ in range(2):
        status, body = await call(http, api, "sendMessage", chat_id=chat_id, text="x")
        assert (status, body["description"]) == (500, "Internal Server Error")
    assert await call(http, api, "getMe") == (429, {
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7}})
    assert (await call(http, api, "sendMessage", chat_id=chat_id, text="x"))[0] == 200
    assert [c.status for c in api.calls_of("sendMessage")] == [500, 500, 200]
    assert len(api.user(chat_id).messages) == 1  # failed calls sent nothing


async def test_executed_fault_sends_but_loses_the_answer(api: LocalBotApi, http: Any) -> None:
    chat_id = await started_user(api)
    api.fail_next("sendMessage", drop=True, executed=True)
    with pytest.raises(aiohttp.ClientError):
        await call(http, api, "sendMessage", chat_id=chat_id, text="送达但无回应")
    assert [m.text for m in api.user(chat_id).messages] == ["送达但无回应"]
    assert api.calls_of("sendMessage")[0].error == "connection dropped"


# --- pure helpers ---

def test_html_parser_is_strict_and_counts_utf16() -> None:
    parsed = parse_html("😀 <b>加粗</b> <i>斜<u>体</u></i> &quot;&#26696;&quot;")
    assert parsed.text == '😀 加粗 斜体 "案"'
    assert parsed.entities == [
        {"type": "bold", "offset": 3, "length": 2},
        {"type": "italic", "offset": 6, "length": 2},
        {"type": "underline", "offset": 7, "length": 1},
    ]
    pre = parse_html('<pre><code class="language-python">x = 1</code></pre>')
    assert pre.entities == [{"type": "pre", "offset": 0, "length": 5, "language": "python"}]
    for bad in ("a<br>b", "<b>x", "<b>x</i>", "</b>", "a < b", '<span class="x">y</span>'):
        with pytest.raises(EntityParseError):
            parse_html(bad)


def test_command_entities_and_image_sizes() -> None:
    assert command_entities("/start@dudao_bot 你好 /help") == [
        {"type": "bot_command", "offset": 0, "length": 16},
        {"type": "bot_command", "offset": 20, "length": 5},
    ]
    assert command_entities("a/b http://x/y") == []
    assert image_size(tiny_png(7, 5)) == (7, 5)
    assert image_size(b"GIF89a\x0a\x00\x14\x00") == (10, 20)
    assert image_size(b"plain") is None
