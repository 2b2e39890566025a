"""What to tell whom about a case, as data: catalogue keys, plain parameters, next actions.

A `Notice` (declared in bot/ports.py: storage and the views use it too) is stored in the
outbox as JSON and rendered by the Telegram views at delivery:
the catalogue text with its parameters translated (category, status and disposition ids)
and HTML-escaped, and the recipient's buttons laid out from its `CaseAction`s. Nothing here
builds a button label or callback data.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.domain import Actor, Case, CaseAction, Role, Status
from bot.ports import Notice, PersonInfo, UnitOfWork
from bot.privacy import mask_personal_data

# Parameters holding an id the renderer translates: name -> catalogue namespace.
TRANSLATED = {"category": "category", "status_name": "status", "outcome": "disposition"}


# Steps of a case its parent hears about, and the catalogue key of each.
PARENT_ACTIONS = {"accepted": "notify.parent.accepted", "approved": "notify.parent.approved",
                  "verified": "notify.parent.closed", "info_requested":
                  "notify.parent.info_requested", "deadline_extended": "notify.parent.extended",
                  "reopened": "notify.parent.reopened"}
# Steps of a case not passed on to the parents of cases merged into it: the question is
# for the case's own parent, and a reopening concerns only the parent who asked for it.
NOT_RELAYED = frozenset({"info_requested", "reopened"})
STAFF_ACTIONS = frozenset({"proposed", "rectification_reported", "handed_back",
                           "extension_requested", "reopened", "interview_due",
                           "county_report_due"})
SUPERVISOR_ACTIONS = frozenset({
    "routed", "assigned", "approved", "proposal_rejected", "verification_failed", "info_added",
    "supervised", "reopened", "deadline_extended", "extension_refused"})


def _reporter(case: Case) -> Actor:
    return Actor(Role.PARENT, user_id=case.reporter_user_id)


def _assignee(case: Case) -> Actor:
    return Actor(Role.SUPERVISOR, person_code=case.assignee_code)


def parent_notice(case: Case, action: str, comment: str) -> Notice | None:
    """What the parent is told about a step, in plain Chinese without internal detail."""
    if action not in PARENT_ACTIONS:
        return None
    ref = case.reference
    if case.status is Status.CLOSED:
        outcome = case.disposition.value if case.disposition else ""
        return Notice("notify.parent.closed", {"reference": ref, "outcome": outcome}, ref,
                      case.next_actions(_reporter(case)))
    params: dict[str, str | int] = {"reference": ref, "status_name": case.status.value}
    if action == "info_requested":
        params["question"] = comment
        return Notice(PARENT_ACTIONS[action], params, ref, case.next_actions(_reporter(case)),
                      more=("notify.parent.question",))
    return Notice(PARENT_ACTIONS[action], params, ref)


def follower_notice(follower: Case, target: Case, action: str) -> Notice | None:
    """What the parent of a case merged into `target` is told about a step of the target:
    the same notice, under their own reference (never the target's text or parent)."""
    if action not in PARENT_ACTIONS or action in NOT_RELAYED:
        return None
    if not follower.awaiting_merged_outcome:
        return parent_notice(follower, action, "")  # closed with the target's outcome
    return Notice(PARENT_ACTIONS[action], {"reference": follower.reference,
                                           "status_name": target.status.value},
                  follower.reference)


def supervisor_notice(case: Case, action: str, comment: str) -> Notice:
    """What the assigned supervisor is told about a step, with what they may do next."""
    actions = case.next_actions(_assignee(case))
    return Notice(f"notify.supervisor.{action}", {
        "reference": case.reference, "category": case.category,
        "text": mask_personal_data(case.text), "comment": mask_personal_data(comment)},
        case.reference, actions, Role.SUPERVISOR, open_button=bool(actions))


def staff_notice(key: str, reference: str | None = None, **params: str | int) -> Notice:
    """A notice for office staff; naming a case gives it a button that opens it."""
    if reference is not None:
        params["reference"] = reference
    return Notice(key, params, reference, (), Role.STAFF, open_button=reference is not None)


def ping_notice(reference: str, key: str, params: Mapping[str, str | int],
                actions: tuple[CaseAction, ...] = (CaseAction.REPORT_DONE,
                                                   CaseAction.REQUEST_EXTENSION)) -> Notice:
    """A rectification deadline reminder for the supervisor, with what they may do next."""
    return Notice(key, params, reference, actions, Role.SUPERVISOR, open_button=True)


def merged_notices(source: Case, target: Case) -> tuple[Notice, Notice, Notice]:
    """When `source` joins `target`: for the source's parent (nothing about anyone else),
    the target's supervisor (with the source's masked text) and the source's supervisor."""
    return (Notice("notify.parent.merged", {"reference": source.reference}, source.reference),
            Notice("notify.supervisor.merge_received", {
                "reference": target.reference, "source": source.reference,
                "text": mask_personal_data(source.text)}, target.reference, (),
                Role.SUPERVISOR, open_button=True),
            Notice("notify.supervisor.merged", {"reference": source.reference},
                   source.reference, (), Role.SUPERVISOR))


# Outbox kinds that answer something the user just did (e.g. the reference of the tip they
# filed, when the direct reply failed): the user is waiting, so quiet hours never hold them.
REPLY_KINDS = frozenset({"filed"})
# Outbox kinds the scheduler queues (reminders, report notices, its own 督办 to staff): at
# night they wait for the morning, while a notice caused by someone's action goes at once.
SCHEDULED_KINDS = ("ping.", "report.", "visit_reminder", "coverage", "staff.escalated")


def is_scheduled(kind: str) -> bool:
    return kind.startswith(SCHEDULED_KINDS)


# --- queueing ---------------------------------------------------------------------------------
async def tell_staff(uow: UnitOfWork, kind: str, notice: Notice, now: datetime) -> None:
    """Queue `notice` for every bound staff member."""
    for person in await uow.directory.people("staff"):
        if person.telegram_user_id:
            await uow.outbox.enqueue(person.telegram_user_id, kind, notice, now)


async def tell_step(uow: UnitOfWork, case: Case, action: str, now: datetime,
                    assignee: PersonInfo | None = None) -> None:
    """Queue what the parent, staff and the assigned supervisor hear about this step."""
    comment = case.events[-1].comment
    parent = parent_notice(case, action, comment)
    if parent is not None:
        await uow.outbox.enqueue(case.reporter_user_id, action, parent, now)
    if action in STAFF_ACTIONS:
        await tell_staff(uow, action, staff_notice(f"notify.staff.{action}", case.reference,
                                                   comment=comment), now)
    if action in SUPERVISOR_ACTIONS and case.assignee_code:
        person = assignee or await uow.directory.person(case.assignee_code)
        if person and person.telegram_user_id:
            await uow.outbox.enqueue(person.telegram_user_id, action,
                                     supervisor_notice(case, action, comment), now)


def relayed(actions: list[str]) -> list[str]:
    """The steps of a case its followers' parents hear about."""
    return [a for a in actions if a in PARENT_ACTIONS and a not in NOT_RELAYED]
