"""Questions the bot asked and the handlers that take their answers: one typed registry.

A question is a frozen dataclass naming what is asked about (a case reference, a chosen
disposition, ...); the module that asks it registers the handler for the answer. The chat
keeps only the open question (nothing about a case's status, which stays in the database);
one text entry point and one media entry point dispatch by the question's type, and /cancel
closes whatever is open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, TypeVar

from telegram import Update

from bot.domain import Disposition, Rating
from handlers.telegram.context import DudaoContext

QUESTION_KEY = "question"


@dataclass(frozen=True)
class Question:
    """Something the bot asked and the user answers with their next message."""

    skippable: ClassVar[bool] = False  # whether a "skip" button may answer it with nothing


Q = TypeVar("Q", bound=Question)
Answer = Callable[[Update, DudaoContext, Any], Awaitable[None]]


@dataclass(frozen=True)
class _Answers:
    text: Answer
    media: Answer | None


_REGISTRY: dict[type[Question], _Answers] = {}


def answers(question: type[Q], *, media: Callable[[Update, DudaoContext, Q], Awaitable[None]]
            | None = None) -> Callable[[Callable[[Update, DudaoContext, Q], Awaitable[None]]],
                                      Callable[[Update, DudaoContext, Q], Awaitable[None]]]:
    """Register the decorated function as the text answer to `question` (and `media` for a
    photo or document sent instead)."""
    def register(handler: Callable[[Update, DudaoContext, Q], Awaitable[None]],
                 ) -> Callable[[Update, DudaoContext, Q], Awaitable[None]]:
        if question in _REGISTRY:
            raise ValueError(f"{question.__name__} already has an answer")
        _REGISTRY[question] = _Answers(handler, media)
        return handler
    return register


def ask(context: DudaoContext, question: Question) -> None:
    """Open `question` for this user (replacing any other)."""
    if context.user_data is not None:
        context.user_data[QUESTION_KEY] = question


def current(context: DudaoContext) -> Question | None:
    found = context.user_data.get(QUESTION_KEY) if context.user_data is not None else None
    return found if isinstance(found, Question) else None


def close(context: DudaoContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(QUESTION_KEY, None)


async def on_text(update: Update, context: DudaoContext,
                  otherwise: Callable[[Update, DudaoContext], Awaitable[None]]) -> None:
    """Answer the open question with this text; without one, `otherwise` takes it."""
    question = current(context)
    if question is None:
        await otherwise(update, context)
        return
    await _REGISTRY[type(question)].text(update, context, question)


async def on_media(update: Update, context: DudaoContext,
                   otherwise: Callable[[Update, DudaoContext], Awaitable[None]]) -> None:
    """A photo or document: the open question's media answer if it has one, else `otherwise`."""
    question = current(context)
    media = _REGISTRY[type(question)].media if question is not None else None
    if media is None:
        await otherwise(update, context)
        return
    await media(update, context, question)


# --- the parent's questions -------------------------------------------------------------------
@dataclass(frozen=True)
class EntityName(Question):
    """The school or institution's name, typed because none of the guesses was right."""


@dataclass(frozen=True)
class ContactNumber(Question):
    """A phone number for a named tip (typed, or shared with the contact button)."""


@dataclass(frozen=True)
class Information(Question):
    """More information (or evidence) for one of the parent's open cases."""

    reference: str


@dataclass(frozen=True)
class RatingComment(Question):
    """An optional comment with a rating (the skip button rates without one)."""

    reference: str
    rating: Rating


# --- the supervisor's questions ---------------------------------------------------------------
@dataclass(frozen=True)
class HandBackReason(Question):
    reference: str


@dataclass(frozen=True)
class QuestionForParent(Question):
    reference: str


@dataclass(frozen=True)
class ProposalNote(Question):
    """The optional note of a proposal (with the rectification deadline when one applies)."""

    skippable: ClassVar[bool] = True
    reference: str
    disposition: Disposition
    deadline: date | None = None


@dataclass(frozen=True)
class TransferDepartment(Question):
    """The receiving department of a transfer (转办)."""

    reference: str


@dataclass(frozen=True)
class RectificationNote(Question):
    """The note (and photos) reporting a rectification done."""

    skippable: ClassVar[bool] = True
    reference: str


@dataclass(frozen=True)
class ExtensionReason(Question):
    reference: str
    deadline: date


@dataclass(frozen=True)
class RecheckNote(Question):
    """The note (a photo with a caption answers it too) of a 回头看 re-check visit."""

    reference: str
    days: int  # 0: the rectification holds; else the new deadline's distance


@dataclass(frozen=True)
class VisitNote(Question):
    """The note of a school visit (a photo with a caption answers it too)."""

    skippable: ClassVar[bool] = True
    school: str  # the school's code, or the institution's with `institution`
    day: date
    institution: bool = False


@dataclass(frozen=True)
class VisitPhoto(Question):
    """The optional photo of a school visit, its note already given."""

    skippable: ClassVar[bool] = True
    school: str
    day: date
    note: str
    institution: bool = False


# --- office staff's questions -----------------------------------------------------------------
@dataclass(frozen=True)
class RejectProposal(Question):
    reference: str


@dataclass(frozen=True)
class VerificationFailed(Question):
    reference: str
    deadline: date


@dataclass(frozen=True)
class RefuseExtension(Question):
    reference: str


@dataclass(frozen=True)
class DeclineReason(Question):
    """Why a tip is closed at triage as 不予受理 (the parent is told)."""

    reference: str


@dataclass(frozen=True)
class InterviewDate(Question):
    """The day of the 约谈 the escalation ladder asked staff to record."""

    reference: str


@dataclass(frozen=True)
class DeadlineDate(Question):
    """A rectification deadline typed instead of pressing a 7/15/30-day button."""

    reference: str


@dataclass(frozen=True)
class InterviewWho(Question):
    reference: str
    day: date


@dataclass(frozen=True)
class InterviewOutcome(Question):
    reference: str
    day: date
    who: str


@dataclass(frozen=True)
class CountyReport(Question):
    """What was reported to the county office (报告县级督导部门)."""

    reference: str
