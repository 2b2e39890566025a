"""A local Telegram Bot API server with simulated users (see server.py for a guide)."""

from localapi.client import FakeUser
from localapi.limits import Fault, RandomFaults, RateLimits
from localapi.server import ApiCall, LocalBotApi
from localapi.state import ApiError, BotAccount, CallbackAnswer, ChatMessage

__all__ = [
    "ApiCall",
    "ApiError",
    "BotAccount",
    "CallbackAnswer",
    "ChatMessage",
    "FakeUser",
    "Fault",
    "LocalBotApi",
    "RandomFaults",
    "RateLimits",
]
