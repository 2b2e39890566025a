"""A local Telegram Bot API server with simulated users (see server.py for a guide)."""

from handlers.localapi.client import FakeUser
from handlers.localapi.limits import Fault, RateLimits
from handlers.localapi.server import ApiCall, LocalBotApi
from handlers.localapi.state import ApiError, BotAccount, CallbackAnswer, ChatMessage

__all__ = [
    "ApiCall",
    "ApiError",
    "BotAccount",
    "CallbackAnswer",
    "ChatMessage",
    "FakeUser",
    "Fault",
    "LocalBotApi",
    "RateLimits",
]
