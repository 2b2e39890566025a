"""Telegram's limits kept before each request (handlers/telegram/sender.py), without a server:
what waits for what, and what a 429 pauses."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from telegram.error import RetryAfter

from handlers.telegram.sender import Limits, PacedRequests, Spacing, TelegramLimits


class Endpoint:
    """A Bot API call that answers 429 the first `refusals` times."""

    def __init__(self, refusals: int = 0) -> None:
        self.refusals = refusals
        self.calls = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.refusals:
            raise RetryAfter(timedelta(milliseconds=50))
        return {"ok": True}


async def test_a_handler_reply_waits_out_a_429_while_the_outbox_gets_it_back() -> None:
    paced = PacedRequests(TelegramLimits())
    reply = Endpoint(refusals=1)
    assert await paced.process_request(reply, (), {}, "sendMessage", {"chat_id": 1},
                                       None) == {"ok": True}
    assert reply.calls == 2
    notice = Endpoint(refusals=1)
    with pytest.raises(RetryAfter):
        await paced.process_request(notice, (), {}, "sendMessage", {"chat_id": 2},
                                    {"retries": 0})
    assert notice.calls == 1


async def test_a_429_pauses_only_its_own_chat() -> None:
    limits = TelegramLimits(Limits(messages_per_second=30))
    limits.pause(1, 0.3)
    done: list[int] = []

    async def send(chat_id: int) -> None:
        await limits.acquire(chat_id)
        done.append(chat_id)

    await asyncio.gather(send(1), send(2), send(3))
    assert done[-1] == 1  # chats 2 and 3 went while chat 1 waited


async def test_a_private_chat_gets_its_burst_then_waits_its_turn_behind_others() -> None:
    limits = TelegramLimits(Limits(messages_per_second=30, per_chat_burst=2))
    done: list[int] = []

    async def send(chat_id: int) -> None:
        await limits.acquire(chat_id)
        done.append(chat_id)

    await asyncio.gather(*(send(1) for _ in range(3)), *(send(c) for c in range(2, 8)))
    assert done.count(1) == 3 and done[-1] == 1  # the third to chat 1 waits ~1 s for its turn
    assert done[:2] == [1, 1]


async def test_requests_that_put_nothing_in_a_chat_are_not_paced() -> None:
    limits = TelegramLimits()
    limits.pause(5, 60)
    paced = PacedRequests(limits)
    call = Endpoint()
    await asyncio.wait_for(paced.process_request(call, (), {}, "getChatMember",
                                                 {"chat_id": 5}, None), 1)
    assert call.calls == 1


async def test_spacing_caps_turns_in_any_second() -> None:
    spacing = Spacing(10)
    loop = asyncio.get_running_loop()
    turns: list[float] = []

    async def take() -> None:
        await spacing.acquire()
        turns.append(loop.time())

    await asyncio.gather(*(take() for _ in range(12)))
    assert spacing.limit == 10
    assert turns[10] - turns[0] >= 1.0  # the 11th turn came only after the first's second
