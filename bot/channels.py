"""Delivery by channel: each outbox row goes out through the transport of its channel
(Telegram, or an office group robot on DingTalk or WeCom), and every attempt is counted."""

from __future__ import annotations

from collections.abc import Mapping

from bot.metrics import Metrics
from bot.outbox import Sender, SendResult
from bot.ports import TELEGRAM, OutboxMessage


class ChannelSender:
    """A `Sender` that hands each row to the sender of its channel."""

    def __init__(self, senders: Mapping[str, Sender], metrics: Metrics) -> None:
        self.senders = dict(senders)
        self.metrics = metrics

    async def send(self, message: OutboxMessage, *, silent: bool = False) -> SendResult:
        channel = getattr(message, "channel", TELEGRAM) or TELEGRAM
        sender = self.senders.get(channel)
        if sender is None:  # the robot was removed from the configuration: keep the row
            result = SendResult.unsendable(f"no {channel} robots are configured")
        else:
            result = await sender.send(message, silent=silent)
        self.metrics.send_attempted(channel, result.outcome.value)
        return result
