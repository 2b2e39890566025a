"""The office console over HTTP: server-side pages (aiohttp-jinja2) for office staff and
supervisors, in a desktop browser (login by a one-time /web link) or inside Telegram as a Mini
App (login by Telegram's signed initData). Every change goes through the bot's services."""

from handlers.web.console import console_routes as console_routes
