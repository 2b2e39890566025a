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

from bot.domain import Actor, Case, CaseAction, Disposition, Role, Status
from bot.ports import Notice, PersonInfo, UnitOfWork
from bot.privacy import mask_personal_data

# Parameters holding an id the renderer translates: name -> catalogue namespace.
TRANSLATED = {"category": "category", "status_name": "status", "outcome": "disposition",
              "handler": "role", "rules": "parent.filed"}


# Steps of a case its parent hears about, and the catalogue key of each (a step that closes
# the case is told as its outcome instead, see `parent_notice`). A reopening is the parent's
# own step: the reply to their tap says where the case went, so no notice repeats it.
PARENT_ACTIONS = {"accepted": "notify.parent.accepted", "approved": "notify.parent.rectifying",
                  "verified": "notify.parent.outcome", "info_requested":
                  "notify.parent.info_requested", "deadline_extended":
                  "notify.parent.extended_to", "assigned": "notify.parent.assigned", "handed_back":
                  "notify.parent.handed_back", "rectification_reported":
                  "notify.parent.rectification_reported", "verification_failed":
                  "notify.parent.verification_failed", "declined": "notify.parent.declined"}
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


def _findings(case: Case) -> str:
    """The supervisor's findings as told to the parent (the proposal's note, which the
    supervisor was told is for the parent), with phone and ID numbers masked."""
    return mask_personal_data(case.disposition_note)


def _parent_params(case: Case, action: str, comment: str) -> dict[str, str | int]:
    """Plain parameters of a parent's notice: never another person's identity; the only
    free texts are the supervisor's findings, the office's reason for 不予受理 and the
    supervisor's question, each meant for the parent."""
    params: dict[str, str | int] = {"reference": case.reference,
                                    "status_name": case.status.value}
    if case.rectify_deadline is not None:
        params["deadline"] = case.rectify_deadline.isoformat()
    if action == "declined":
        params["reason"] = mask_personal_data(comment)
    if action == "info_requested":
        params["question"] = comment
    if case.disposition is not None:
        params["outcome"] = case.disposition.value
        params["findings"] = _findings(case)
        params["department"] = case.transfer_to
    return params


def _outcome_lines(case: Case, action: str) -> tuple[str, ...]:
    """The lines after the outcome: the verification, the findings, where it was sent."""
    lines: list[str] = []
    if action == "verified":
        lines.append("notify.parent.verified")
    if case.disposition is Disposition.TRANSFERRED and case.transfer_to:
        lines.append("notify.parent.transferred")
    if case.disposition_note and case.disposition is not Disposition.DECLINED:
        lines.append("notify.parent.findings")
    return tuple(lines)


def parent_notice(case: Case, action: str, comment: str) -> Notice | None:
    """What the parent is told about a step, in plain Chinese without internal detail."""
    if action not in PARENT_ACTIONS:
        return None
    ref = case.reference
    actions = case.next_actions(_reporter(case))
    params = _parent_params(case, action, comment)
    if action == "declined":
        return Notice("notify.parent.declined", params, ref, actions,
                      more=("notify.parent.rate_prompt",) if actions else ())
    if case.status is Status.CLOSED:
        if case.disposition is None:  # e.g. merged and waiting: nothing decided yet
            return Notice("notify.parent.closed", {"reference": ref, "outcome": ""}, ref,
                          actions)
        more = _outcome_lines(case, action)
        if actions:
            more += ("notify.parent.rate_prompt",)
        return Notice("notify.parent.outcome", params, ref, actions, more=more)
    if action == "info_requested":
        return Notice(PARENT_ACTIONS[action], params, ref, actions,
                      more=("notify.parent.question",))
    if action == "approved" and case.disposition is Disposition.RECTIFY:
        return Notice(PARENT_ACTIONS[action], params, ref, more=_outcome_lines(case, action))
    if action in ("approved", "deadline_extended", "verification_failed") \
            and "deadline" not in params:
        return Notice("notify.parent.approved", params, ref)
    return Notice(PARENT_ACTIONS[action], params, ref)


def follower_notice(follower: Case, target: Case, action: str) -> Notice | None:
    """What the parent of a case merged into `target` is told about a step of the target:
    the same notice, under their own reference (never the target's text or parent)."""
    if action not in PARENT_ACTIONS or action in NOT_RELAYED:
        return None
    if not follower.awaiting_merged_outcome:
        # Closed with the target's outcome.
        return parent_notice(follower, action, _step_comment(target, action))
    notice = parent_notice(target, action, _step_comment(target, action))
    if notice is None:
        return None
    params = dict(notice.params)
    params["reference"] = follower.reference
    return Notice(notice.key, params, follower.reference, more=notice.more)


def _step_comment(case: Case, action: str) -> str:
    """The comment of the case's latest `action` event (the reason for 不予受理)."""
    return next((e.comment for e in reversed(case.events) if e.action == action), "")


def supervisor_notice(case: Case, action: str, comment: str) -> Notice:
    """What the assigned supervisor is told about a step, with what they may do next."""
    actions = case.next_actions(_assignee(case))
    params = {"reference": case.reference, "category": case.category,
              "text": mask_personal_data(case.text), "comment": mask_personal_data(comment)}
    key = f"notify.supervisor.{action}"
    if action in ("verification_failed", "deadline_extended") and case.rectify_deadline:
        params["deadline"] = case.rectify_deadline.isoformat()
        key += ".dated"  # rows queued before the date was said keep the old text
    return Notice(key, params, case.reference, actions, Role.SUPERVISOR,
                  open_button=bool(actions))


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


def filed_notice(reference: str, category: str, handler_role: str) -> Notice:
    """The parent's reference and what happens next (the reply to a filed tip)."""
    rules = "rules_triage" if handler_role == "triage" else "rules_supervisor"
    return Notice("parent.filed", {"reference": reference, "category": category,
                                   "handler": handler_role, "rules": rules})


def reply_key(reference: str) -> str:
    """The outbox key of the reference reply of a case (one per case)."""
    return f"filed:{reference}"


# Outbox kinds that answer something the user just did (e.g. the reference of the tip they
# filed, when the direct reply failed): the user is waiting, so quiet hours never hold them.
REPLY_KINDS = frozenset({"filed"})
# Outbox kinds the scheduler queues (reminders, report notices, its own 督办 to staff): at
# night they wait for the morning, while a notice caused by someone's action goes at once.
SCHEDULED_KINDS = ("ping.", "report.", "visit_reminder", "coverage", "staff.escalated",
                   "hotspots", "calendar.")


def is_scheduled(kind: str) -> bool:
    return kind.startswith(SCHEDULED_KINDS)


# --- queueing ---------------------------------------------------------------------------------
async def tell_staff(uow: UnitOfWork, kind: str, notice: Notice, now: datetime) -> None:
    """Queue `notice` for every bound staff member, and the group robots that take `kind`."""
    await uow.outbox.enqueue_many([(person.telegram_user_id, kind, notice, None)
                                   for person in await uow.directory.people("staff")
                                   if person.telegram_user_id], now)
    await tell_robots(uow, kind, notice, now)


async def tell_robots(uow: UnitOfWork, kind: str, notice: Notice, now: datetime, *,
                      dedup_key: str | None = None) -> int:
    """Queue a copy of a staff notice for each configured group robot (DingTalk, WeCom)
    that takes `kind`; with `dedup_key`, once per robot. Returns how many were queued."""
    queued = 0
    for robot in uow.robots:
        if robot.wants(kind):
            key = f"{dedup_key}@{robot.channel}{robot.chat_id}" if dedup_key else None
            queued += await uow.outbox.enqueue(robot.chat_id, kind, notice, now,
                                               dedup_key=key, channel=robot.channel)
    return queued


async def supervisor_chat(uow: UnitOfWork, case: Case,
                          assignee: PersonInfo | None = None) -> int | None:
    """The chat the case's supervisor hears its steps in: None while nobody is assigned or the
    assigned supervisor has not bound a Telegram account."""
    if not case.assignee_code:
        return None
    person = assignee or await uow.directory.person(case.assignee_code)
    return person.telegram_user_id if person else None


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
    if action in SUPERVISOR_ACTIONS and (chat := await supervisor_chat(uow, case, assignee)):
        await uow.outbox.enqueue(chat, action, supervisor_notice(case, action, comment), now)
    if action == "supervised":  # every 督办, by staff or the system, to the office's groups
        await tell_robots(uow, action, robot_supervised_notice(case, comment), now)


def robot_supervised_notice(case: Case, comment: str) -> Notice:
    """A 督办 as the office's group robots read it (the comment masked)."""
    return staff_notice("notify.robot.supervised", case.reference, category=case.category,
                        comment=mask_personal_data(comment))


def relayed(actions: list[str]) -> list[str]:
    """The steps of a case its followers' parents hear about."""
    return [a for a in actions if a in PARENT_ACTIONS and a not in NOT_RELAYED]
