"""The typed context every handler receives: the services it may call, nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.bootstrap import Container
from bot.config import Settings
from bot.filing import FilingService
from bot.intake import IntakeService
from bot.office import OfficeService
from bot.services import CaseService
from bot.supervision import SupervisionService


@dataclass
class Draft:
    """A tip being composed: nothing is stored until the parent confirms."""

    text: str
    analysis: Any
    entity: Any = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    anonymous: bool = True


@dataclass(frozen=True)
class BotServices:
    """What handlers may call, all from the one container built by `bot.bootstrap`."""

    container: Container

    @property
    def settings(self) -> Settings:
        return self.container.settings

    @property
    def cases(self) -> CaseService:
        return self.container.cases

    @property
    def office(self) -> OfficeService:
        return self.container.office

    @property
    def supervision(self) -> SupervisionService:
        return self.container.supervision

    @property
    def intake(self) -> IntakeService:
        intake = self.container.intake
        assert intake is not None, "the bot's container is built with a classifier"
        return intake

    @property
    def filing(self) -> FilingService:
        return self.container.filing


class DudaoContext(CallbackContext[ExtBot[None], dict[str, Any], dict[str, Any],
                                   dict[str, Any]]):
    """CallbackContext with `services` and the tip being composed (open questions: `flows`)."""

    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any],
                 chat_id: int | None = None, user_id: int | None = None) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)

    @property
    def services(self) -> BotServices:
        return self.bot_data["services"]  # type: ignore[no-any-return]

    @property
    def draft(self) -> Draft | None:
        return self.user_data.get("draft") if self.user_data is not None else None

    @draft.setter
    def draft(self, value: Draft | None) -> None:
        if self.user_data is not None:
            self.user_data["draft"] = value
