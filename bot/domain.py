"""The case domain: statuses, allowed transitions, dispositions and the audit trail.

Pure Python, no I/O. A `Case` enforces who may move it and where; every successful
transition appends one `CaseEvent` (who, when, from, to, comment) and nothing edits or
removes events. Callers pass `now` explicitly so time is always controllable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

# SPEC's category ids: one list for the model and the domain (re-exported here).
from bot.escalation import (
    COUNTY_REPORT_DUE,
    COUNTY_REPORTED,
    INTERVIEW_DUE,
    INTERVIEWED,
    Rung,
    next_rung,
    rung,
)
from classifier.labels import CATEGORIES as CATEGORIES

SCHOOL_CATEGORIES = frozenset({"homework_burden", "teacher_paid_tutoring", "after_school_service"})
TUTORING_CATEGORIES = frozenset({"unlicensed_tutoring", "fees_refund"})


class Status(StrEnum):
    NEW = "new"
    TRIAGE = "triage"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    AWAITING_INFO = "awaiting_info"
    PROPOSED = "proposed"
    RECTIFYING = "rectifying"
    RECTIFICATION_REPORTED = "rectification_reported"
    CLOSED = "closed"


OPEN_STATUSES = frozenset(s for s in Status if s is not Status.CLOSED)


class Disposition(StrEnum):
    UNFOUNDED = "unfounded"  # 不属实
    FIXED = "fixed"  # 属实已整改 (立行立改)
    RECTIFY = "rectify"  # 属实限期整改
    TRANSFERRED = "transferred"  # 转办
    NEEDS_INFO = "needs_info"  # 需补充材料 (carried out by request_info, not proposed)
    DECLINED = "declined"  # 不予受理 (staff close an empty, abusive or unrelated tip at triage)


PROPOSABLE = frozenset({Disposition.UNFOUNDED, Disposition.FIXED, Disposition.RECTIFY,
                        Disposition.TRANSFERRED})


class Role(StrEnum):
    PARENT = "parent"
    SUPERVISOR = "supervisor"
    STAFF = "staff"
    SYSTEM = "system"


class Rating(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


class CaseAction(StrEnum):
    """Something a role may do next with a case (what its buttons offer)."""

    # supervisor
    ACCEPT = "accept"
    HAND_BACK = "hand_back"
    PROPOSE = "propose"
    ASK = "ask"
    REPORT_DONE = "report_done"
    REQUEST_EXTENSION = "request_extension"
    RECHECK = "recheck"  # the 回头看 re-check visit after a verified rectification
    # parent
    ADD_INFO = "add_info"
    ANSWER = "answer"  # the supervisor's question (需补充材料)
    RATE = "rate"
    REOPEN = "reopen"
    # office staff
    TRIAGE = "triage"
    DECLINE = "decline"  # 不予受理
    REASSIGN = "reassign"
    SUPERVISE = "supervise"
    APPROVE = "approve"
    REJECT = "reject"
    VERIFY_PASS = "verify_pass"
    VERIFY_FAIL = "verify_fail"
    GRANT_EXTENSION = "grant_extension"
    REFUSE_EXTENSION = "refuse_extension"
    RECORD_INTERVIEW = "record_interview"  # 约谈
    RECORD_COUNTY_REPORT = "record_county_report"  # 报告县级督导部门


class DomainError(Exception):
    """A rule of the domain said no; `key` names the catalogue text that explains it."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class InvalidTransition(DomainError):
    """The case is not in a status from which this action is allowed."""


class PermissionDenied(DomainError):
    """The actor may not do this to this case."""


class InvalidInput(DomainError):
    """The action's arguments are wrong (missing comment, deadline in the past, ...)."""


@dataclass(frozen=True)
class Actor:
    """Who acts: a parent (by Telegram user id), a directory person (by code), or the system."""

    role: Role
    person_code: str | None = None
    user_id: int | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(Role.SYSTEM)

    @property
    def label(self) -> str:
        return self.person_code or (str(self.user_id) if self.user_id is not None else self.role)


# Steps after which an extension request is no longer waiting for a decision.
EXTENSION_ENDS = frozenset({"deadline_extended", "extension_refused", "rectification_reported",
                            "verification_failed", "verified", "reopened", "approved"})


@dataclass(frozen=True)
class CaseEvent:
    """One audit entry: append-only."""

    action: str
    actor_role: Role
    actor: str
    at: datetime
    from_status: Status | None
    to_status: Status
    comment: str = ""
    data: dict[str, Any] = field(default_factory=dict)


_REFERENCE = re.compile(r"^(?P<prefix>[A-Z]{1,8})-(?P<year>\d{4})-(?P<seq>\d{6,})$")


def format_reference(prefix: str, year: int, seq: int) -> str:
    """Render a case reference such as SJ-2026-000123."""
    return f"{prefix}-{year:04d}-{seq:06d}"


def parse_reference(text: str) -> tuple[str, int, int] | None:
    """Parse a reference (case-insensitive, surrounding space ignored); None if malformed."""
    match = _REFERENCE.match(text.strip().upper())
    if not match:
        return None
    return match["prefix"], int(match["year"]), int(match["seq"])


@dataclass
class Case:
    """A parent's tip and everything done about it."""

    reference: str
    text: str
    category: str
    confidence: float
    reporter_user_id: int
    created_at: datetime
    status: Status = Status.NEW
    anonymous: bool = True
    reporter_name: str | None = None
    reporter_phone: str | None = None
    school_code: str | None = None
    institution_code: str | None = None
    district_code: str | None = None
    assignee_code: str | None = None
    model_version: str = ""
    disposition: Disposition | None = None
    disposition_note: str = ""
    transfer_to: str = ""
    rectify_deadline: date | None = None
    supervised_at: datetime | None = None
    rating: Rating | None = None
    rating_comment: str = ""
    reopen_count: int = 0
    closed_at: datetime | None = None
    updated_at: datetime | None = None
    merged_into: str | None = None  # the reference of the case this one was merged into
    # The status of the case merged into, as loaded with this one (read-only, never saved).
    merged_into_status: Status | None = None
    id: int | None = None
    events: list[CaseEvent] = field(default_factory=list)

    # --- helpers -------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def awaiting_merged_outcome(self) -> bool:
        """Merged into another case that has not closed yet (no outcome of its own yet)."""
        return (self.merged_into is not None and self.status is Status.CLOSED
                and self.disposition is None)

    @property
    def dismissed_duplicates(self) -> frozenset[str]:
        """References staff said are not duplicates of this case."""
        return frozenset(str(e.data.get("other")) for e in self.events
                         if e.action == "duplicate_dismissed")

    def _require_status(self, *allowed: Status) -> None:
        if self.status not in allowed:
            raise InvalidTransition("case.error.wrong_status", reference=self.reference,
                                    status=self.status.value)

    def _require_staff(self, actor: Actor) -> None:
        if actor.role is not Role.STAFF:
            raise PermissionDenied("case.error.staff_only")

    def _require_assignee(self, actor: Actor) -> None:
        if actor.role is not Role.SUPERVISOR or actor.person_code != self.assignee_code:
            raise PermissionDenied("case.error.not_assignee")

    def require_reporter(self, actor: Actor) -> None:
        """Only the parent who filed the case may act on it as its parent."""
        if actor.role is not Role.PARENT or actor.user_id != self.reporter_user_id:
            raise PermissionDenied("case.error.not_reporter")

    def _move(self, action: str, actor: Actor, now: datetime, to: Status, comment: str = "",
              **data: Any) -> CaseEvent:
        event = CaseEvent(action=action, actor_role=actor.role, actor=actor.label, at=now,
                          from_status=self.status if self.events else None, to_status=to,
                          comment=comment, data=data)
        self.status = to
        self.updated_at = now
        self.events.append(event)
        return event

    def record(self, action: str, actor: Actor, now: datetime, comment: str = "",
               **data: Any) -> CaseEvent:
        """An audit entry that moves nothing (a document issued, evidence deleted)."""
        return self._move(action, actor, now, self.status, comment, **data)

    # --- creation and routing ------------------------------------------------------
    @classmethod
    def file(cls, *, reference: str, text: str, category: str, confidence: float,
             reporter_user_id: int, now: datetime, anonymous: bool = True,
             reporter_name: str | None = None, reporter_phone: str | None = None,
             school_code: str | None = None, institution_code: str | None = None,
             district_code: str | None = None, model_version: str = "",
             alternatives: Sequence[tuple[str, float]] = (),
             detected_entity: str | None = None) -> Case:
        """Open a new case from a parent's tip; anonymous tips keep no name or phone."""
        if category not in CATEGORIES:
            raise InvalidInput("case.error.unknown_category", category=category)
        if not text.strip():
            raise InvalidInput("case.error.empty_text")
        case = cls(reference=reference, text=text, category=category,
                   confidence=max(0.0, min(1.0, confidence)), reporter_user_id=reporter_user_id,
                   created_at=now, anonymous=anonymous,
                   reporter_name=None if anonymous else reporter_name,
                   reporter_phone=None if anonymous else reporter_phone,
                   school_code=school_code, institution_code=institution_code,
                   district_code=district_code, model_version=model_version)
        chosen = school_code or institution_code
        # The parent corrected what the bot detected ("不是这所"): the filing records both.
        correction = ({"entity_detected": detected_entity}
                      if detected_entity and detected_entity != chosen else {})
        case._move("filed", Actor(Role.PARENT, user_id=reporter_user_id), now, Status.NEW,
                   category=category, confidence=round(case.confidence, 4),
                   alternatives=[[c, round(p, 4)] for c, p in alternatives], **correction)
        return case

    def route(self, decision: RoutingDecision, now: datetime) -> None:
        """Apply the routing policy's decision to a new case."""
        self._require_status(Status.NEW)
        if decision.assignee_code is None:
            self._move("to_triage", Actor.system(), now, Status.TRIAGE, reason=decision.reason)
        else:
            self.assignee_code = decision.assignee_code
            self._move("routed", Actor.system(), now, Status.ASSIGNED,
                       assignee=decision.assignee_code, reason=decision.reason)

    # --- staff -------------------------------------------------------------------
    def assign(self, actor: Actor, supervisor_code: str, now: datetime, comment: str = "") -> None:
        """Staff set or change the responsible supervisor; the supervisor must accept anew."""
        self._require_staff(actor)
        self._require_status(Status.TRIAGE, Status.ASSIGNED, Status.ACCEPTED)
        if not supervisor_code:
            raise InvalidInput("case.error.no_assignee")
        previous = self.assignee_code
        self.assignee_code = supervisor_code
        self._move("assigned", actor, now, Status.ASSIGNED, comment, assignee=supervisor_code,
                   previous=previous)

    def decline(self, actor: Actor, reason: str, now: datetime) -> None:
        """Staff close a tip at triage as 不予受理 (empty, abusive or unrelated), with a reason
        the parent is told."""
        self._require_staff(actor)
        self._require_status(Status.TRIAGE)
        if not reason.strip():
            raise InvalidInput("case.error.comment_required")
        self.disposition = Disposition.DECLINED
        self.disposition_note = reason.strip()
        self._move("declined", actor, now, Status.CLOSED, reason.strip(),
                   disposition=Disposition.DECLINED.value)
        self.closed_at = now

    def recategorise(self, actor: Actor, category: str, now: datetime) -> str:
        """Staff correct the category; returns the old one (the event is a training example)."""
        self._require_staff(actor)
        if not self.is_open:
            raise InvalidTransition("case.error.closed", reference=self.reference)
        if category not in CATEGORIES:
            raise InvalidInput("case.error.unknown_category", category=category)
        old = self.category
        self.category = category
        self._move("recategorised", actor, now, self.status, old=old, new=category)
        return old

    def set_entity(self, actor: Actor, kind: str, code: str, district_code: str | None,
                   now: datetime) -> None:
        """Staff set or correct the school or institution an open case is about (audited)."""
        self._require_staff(actor)
        if not self.is_open:
            raise InvalidTransition("case.error.closed", reference=self.reference)
        if kind not in ("school", "institution") or not code:
            raise InvalidInput("case.error.unknown_entity", code=code[:32])
        old = self.school_code or self.institution_code
        if code == old:
            raise InvalidTransition("case.error.entity_unchanged", reference=self.reference)
        self.school_code = code if kind == "school" else None
        self.institution_code = code if kind == "institution" else None
        if district_code:
            self.district_code = district_code
        self._move("entity_set", actor, now, self.status, kind=kind, old=old, new=code)

    def reject_proposal(self, actor: Actor, comment: str, now: datetime) -> None:
        """Staff send a proposal back to the supervisor with a comment."""
        self._require_staff(actor)
        self._require_status(Status.PROPOSED)
        if not comment.strip():
            raise InvalidInput("case.error.comment_required")
        self._move("proposal_rejected", actor, now, Status.ACCEPTED, comment.strip(),
                   disposition=self.disposition.value if self.disposition else None)
        self.disposition = None
        self.rectify_deadline = None
        self.transfer_to = ""

    def approve_proposal(self, actor: Actor, now: datetime, comment: str = "") -> None:
        """Staff approve: a deadline disposition starts rectification, any other closes."""
        self._require_staff(actor)
        self._require_status(Status.PROPOSED)
        assert self.disposition is not None
        if self.disposition is Disposition.RECTIFY:
            deadline = self.rectify_deadline.isoformat() if self.rectify_deadline else None
            self._move("approved", actor, now, Status.RECTIFYING, comment,
                       disposition=self.disposition.value, deadline=deadline)
        else:
            self._move("approved", actor, now, Status.CLOSED, comment,
                       disposition=self.disposition.value)
            self.closed_at = now

    def verify_rectification(self, actor: Actor, now: datetime, *, passed: bool,
                             comment: str = "", new_deadline: date | None = None) -> None:
        """Staff check the rectification (回头看): passed closes, failed sets a new deadline."""
        self._require_staff(actor)
        self._require_status(Status.RECTIFICATION_REPORTED)
        if passed:
            # recheck: a 回头看 re-check visit is owed later (bot/clocks.py schedules it)
            self._move("verified", actor, now, Status.CLOSED, comment, recheck=True)
            self.closed_at = now
            return
        if new_deadline is None or new_deadline <= now.date():
            raise InvalidInput("case.error.deadline_in_past")
        if not comment.strip():
            raise InvalidInput("case.error.comment_required")
        self.rectify_deadline = new_deadline
        self.supervised_at = None
        self._move("verification_failed", actor, now, Status.RECTIFYING, comment.strip(),
                   deadline=new_deadline.isoformat())
        failures = sum(1 for e in self.events if e.action in ("verification_failed",
                                                              "recheck_failed"))
        if failures >= 2:
            # 督促指导2次(含2次)以上仍未整改: the second failure moves the case up the ladder.
            self.climb(now, "failed_twice")

    def extend_deadline(self, actor: Actor, new_deadline: date, reason: str,
                        now: datetime) -> None:
        """Staff grant a supervisor's extension request (延期申请)."""
        self._require_staff(actor)
        self._require_status(Status.RECTIFYING)
        if self.rectify_deadline is not None and new_deadline <= self.rectify_deadline:
            raise InvalidInput("case.error.extension_not_later")
        old = self.rectify_deadline
        self.rectify_deadline = new_deadline
        self.supervised_at = None
        self._move("deadline_extended", actor, now, Status.RECTIFYING, reason.strip(),
                   old=old.isoformat() if old else None, new=new_deadline.isoformat())

    def merge_into(self, actor: Actor, target: Case, now: datetime) -> None:
        """Staff merge this duplicate into `target`; its parent follows the target from now."""
        self._require_staff(actor)
        if target is self or target.reference == self.reference:
            raise InvalidInput("case.error.merge_self", reference=self.reference)
        if not self.is_open:
            raise InvalidTransition("case.error.closed", reference=self.reference)
        if target.merged_into is not None:
            raise InvalidTransition("case.error.merge_target_merged", reference=target.reference,
                                    into=target.merged_into)
        if not target.is_open:
            raise InvalidTransition("case.error.closed", reference=target.reference)
        self.merged_into = target.reference
        # The outcome will be the target's; a half-way proposal of this case no longer applies.
        self.disposition = None
        self.disposition_note = ""
        self.rectify_deadline = None
        self.transfer_to = ""
        self._move("merged", actor, now, Status.CLOSED, into=target.reference)
        self.closed_at = now
        target._move("merge_received", actor, now, target.status, **{"from": self.reference})

    def close_merged(self, target: Case, now: datetime) -> None:
        """The target closed: take over its outcome so this case's parent can rate it."""
        if self.merged_into != target.reference or not self.awaiting_merged_outcome:
            raise InvalidTransition("case.error.wrong_status", reference=self.reference,
                                    status=self.status.value)
        if target.status is not Status.CLOSED or target.disposition is None:
            raise InvalidTransition("case.error.wrong_status", reference=target.reference,
                                    status=target.status.value)
        self.disposition = target.disposition
        self.disposition_note = target.disposition_note
        self.transfer_to = target.transfer_to
        self.rectify_deadline = target.rectify_deadline
        self.closed_at = now
        self._move("merged_case_closed", Actor.system(), now, Status.CLOSED,
                   **{"from": target.reference, "disposition": target.disposition.value})

    def dismiss_duplicate(self, actor: Actor, other: Case, now: datetime) -> None:
        """Staff say `other` is not a duplicate of this case, so the hint goes away."""
        self._require_staff(actor)
        if other.reference == self.reference:
            raise InvalidInput("case.error.merge_self", reference=self.reference)
        if other.reference in self.dismissed_duplicates:
            raise InvalidTransition("case.error.duplicate_already_dismissed",
                                    reference=self.reference, other=other.reference)
        self._move("duplicate_dismissed", actor, now, self.status, other=other.reference)

    def supervise(self, actor: Actor, now: datetime, comment: str = "") -> None:
        """Issue a supervision order (督办) on an overdue case; staff or the scheduler."""
        if actor.role not in (Role.STAFF, Role.SYSTEM):
            raise PermissionDenied("case.error.staff_only")
        self._require_status(Status.ASSIGNED, Status.ACCEPTED, Status.PROPOSED, Status.RECTIFYING,
                             Status.RECTIFICATION_REPORTED)
        self.supervised_at = now
        self._move("supervised", actor, now, self.status, comment)

    # --- the escalation ladder (bot/escalation.py) ----------------------------------
    @property
    def rung(self) -> Rung:
        return rung(self.events)

    @property
    def pending_rung(self) -> Rung | None:
        """The rung staff have been asked to record (约谈 or county report) and have not."""
        for event in reversed(self.events):
            if event.action in (INTERVIEWED, COUNTY_REPORTED):
                return None
            if event.action == INTERVIEW_DUE:
                return Rung.INTERVIEW
            if event.action == COUNTY_REPORT_DUE:
                return Rung.COUNTY_REPORT
        return None

    def climb(self, now: datetime, reason: str) -> Rung | None:
        """The system moves the case one rung up (a second failure, or a rung that ran out);
        staff are then asked to record it. None when already at the top or awaiting one."""
        if self.pending_rung is not None:
            return None
        up = next_rung(self.rung)
        if up is None:
            return None
        kind = INTERVIEW_DUE if up is Rung.INTERVIEW else COUNTY_REPORT_DUE
        self._move(kind, Actor.system(), now, self.status, reason=reason)
        return up

    def record_interview(self, actor: Actor, held_on: date, who: str, outcome: str,
                         now: datetime) -> None:
        """Staff record the 约谈 the ladder asked for: when, with whom, and its outcome."""
        self._require_staff(actor)
        if self.pending_rung is not Rung.INTERVIEW:
            raise InvalidTransition("case.error.no_pending_rung", reference=self.reference)
        if not who.strip() or not outcome.strip():
            raise InvalidInput("case.error.comment_required")
        if held_on > now.date():
            raise InvalidInput("case.error.date_in_future")
        self._move(INTERVIEWED, actor, now, self.status, outcome.strip(),
                   date=held_on.isoformat(), who=who.strip())

    def record_county_report(self, actor: Actor, note: str, now: datetime) -> None:
        """Staff record the report to the county office (报告县级督导部门)."""
        self._require_staff(actor)
        if self.pending_rung is not Rung.COUNTY_REPORT:
            raise InvalidTransition("case.error.no_pending_rung", reference=self.reference)
        if not note.strip():
            raise InvalidInput("case.error.comment_required")
        self._move(COUNTY_REPORTED, actor, now, self.status, note.strip())

    # --- 回头看 re-check after a verified rectification -------------------------------
    @property
    def pending_recheck(self) -> datetime | None:
        """When the verification a re-check is owed for happened (None: none owed)."""
        if self.status is not Status.CLOSED:
            return None
        for event in reversed(self.events):
            if event.action in ("rechecked", "recheck_failed", "reopened"):
                return None
            if event.action == "verified":
                return event.at if event.data.get("recheck") else None
        return None

    def recheck(self, actor: Actor, now: datetime, *, passed: bool, note: str,
                new_deadline: date | None = None, photo: str = "") -> None:
        """The supervisor's 回头看 visit: passed keeps the case closed; failed reopens the
        rectification with a new deadline."""
        self._require_assignee(actor)
        if self.pending_recheck is None:
            raise InvalidTransition("case.error.no_pending_recheck", reference=self.reference)
        if not note.strip():
            raise InvalidInput("case.error.comment_required")
        evidence = {"photo": photo} if photo else {}
        if passed:
            self._move("rechecked", actor, now, Status.CLOSED, note.strip(), **evidence)
            return
        if new_deadline is None or new_deadline <= now.date():
            raise InvalidInput("case.error.deadline_in_past")
        self.rectify_deadline = new_deadline
        self.supervised_at = None
        self.closed_at = None
        self._move("recheck_failed", actor, now, Status.RECTIFYING, note.strip(),
                   deadline=new_deadline.isoformat(), **evidence)
        failures = sum(1 for e in self.events if e.action in ("verification_failed",
                                                              "recheck_failed"))
        if failures >= 2:
            self.climb(now, "failed_twice")

    # --- supervisor --------------------------------------------------------------
    def accept(self, actor: Actor, now: datetime) -> None:
        """The assigned supervisor takes the case."""
        self._require_assignee(actor)
        self._require_status(Status.ASSIGNED)
        self._move("accepted", actor, now, Status.ACCEPTED)

    def hand_back(self, actor: Actor, reason: str, now: datetime) -> None:
        """The assigned supervisor returns the case to office triage with a reason."""
        self._require_assignee(actor)
        self._require_status(Status.ASSIGNED, Status.ACCEPTED)
        if not reason.strip():
            raise InvalidInput("case.error.comment_required")
        self.assignee_code = None
        self._move("handed_back", actor, now, Status.TRIAGE, reason.strip())

    def request_info(self, actor: Actor, question: str, now: datetime) -> None:
        """The supervisor asks the parent for more information (需补充材料); clocks pause."""
        self._require_assignee(actor)
        self._require_status(Status.ACCEPTED)
        if not question.strip():
            raise InvalidInput("case.error.comment_required")
        self._move("info_requested", actor, now, Status.AWAITING_INFO, question.strip(),
                   disposition=Disposition.NEEDS_INFO.value)

    def propose(self, actor: Actor, disposition: Disposition, now: datetime, *, note: str = "",
                deadline: date | None = None, transfer_to: str = "") -> None:
        """The supervisor proposes a disposition for staff to approve."""
        self._require_assignee(actor)
        self._require_status(Status.ACCEPTED)
        if disposition not in PROPOSABLE:
            raise InvalidInput("case.error.bad_disposition")
        if disposition is Disposition.RECTIFY:
            if deadline is None or deadline <= now.date():
                raise InvalidInput("case.error.deadline_in_past")
        elif deadline is not None:
            raise InvalidInput("case.error.deadline_not_allowed")
        if disposition is Disposition.TRANSFERRED and not transfer_to.strip():
            raise InvalidInput("case.error.transfer_target_required")
        self.disposition = disposition
        self.disposition_note = note.strip()
        self.rectify_deadline = deadline
        self.transfer_to = transfer_to.strip()
        self._move("proposed", actor, now, Status.PROPOSED, self.disposition_note,
                   disposition=disposition.value,
                   deadline=deadline.isoformat() if deadline else None,
                   transfer_to=self.transfer_to or None)

    def request_extension(self, actor: Actor, new_deadline: date, reason: str,
                          now: datetime) -> None:
        """The supervisor asks staff for a later rectification deadline (延期申请)."""
        self._require_assignee(actor)
        self._require_status(Status.RECTIFYING)
        if self.rectify_deadline is not None and new_deadline <= self.rectify_deadline:
            raise InvalidInput("case.error.extension_not_later")
        if not reason.strip():
            raise InvalidInput("case.error.comment_required")
        self._move("extension_requested", actor, now, Status.RECTIFYING, reason.strip(),
                   new=new_deadline.isoformat())

    @property
    def pending_extension(self) -> date | None:
        """The deadline a supervisor asked for and staff have not yet decided on.

        A request lapses when the rectification moves on without it (reported done, a 回头看
        that set a new deadline, a reopening): granting it then would undo a later decision.
        """
        for event in reversed(self.events):
            if event.action in EXTENSION_ENDS:
                return None
            if event.action == "extension_requested":
                return date.fromisoformat(event.data["new"])
        return None

    def refuse_extension(self, actor: Actor, reason: str, now: datetime) -> None:
        """Staff refuse a pending extension request."""
        self._require_staff(actor)
        self._require_status(Status.RECTIFYING)
        if self.pending_extension is None:
            raise InvalidTransition("case.error.no_pending_extension")
        self._move("extension_refused", actor, now, Status.RECTIFYING, reason.strip())

    def report_rectified(self, actor: Actor, note: str, now: datetime) -> None:
        """The supervisor reports that the school or institution has fixed the problem."""
        self._require_assignee(actor)
        self._require_status(Status.RECTIFYING)
        self._move("rectification_reported", actor, now, Status.RECTIFICATION_REPORTED,
                   note.strip())

    # --- parent ------------------------------------------------------------------
    def add_information(self, actor: Actor, text: str, now: datetime) -> None:
        """The parent adds information; an awaited answer resumes the supervisor's clock."""
        self.require_reporter(actor)
        if not self.is_open:
            raise InvalidTransition("case.error.closed", reference=self.reference)
        if not text.strip():
            raise InvalidInput("case.error.empty_text")
        to = Status.ACCEPTED if self.status is Status.AWAITING_INFO else self.status
        self._move("info_added", actor, now, to, text.strip())

    def rate(self, actor: Actor, rating: Rating, now: datetime, comment: str = "") -> None:
        """The parent rates a closed case, once per closing."""
        self.require_reporter(actor)
        self._require_status(Status.CLOSED)
        if self.awaiting_merged_outcome:
            raise InvalidTransition("case.error.merged_pending", reference=self.reference)
        if self.rating is not None:
            raise InvalidTransition("case.error.already_rated", reference=self.reference)
        self.rating = rating
        self.rating_comment = comment.strip()
        self._move("rated", actor, now, Status.CLOSED, self.rating_comment, rating=rating.value)

    def reopen(self, actor: Actor, reason: str, now: datetime) -> None:
        """A dissatisfied parent reopens the case, once; it goes back to its supervisor."""
        self.require_reporter(actor)
        self._require_status(Status.CLOSED)
        if self.rating is not Rating.DISSATISFIED:
            raise InvalidTransition("case.error.reopen_needs_dissatisfied")
        if self.reopen_count >= 1:
            raise InvalidTransition("case.error.reopen_once")
        self.reopen_count += 1
        # A merged case reopens on its own: its supervisor handles it again, apart.
        self.merged_into = None
        self.merged_into_status = None
        self.rating = None
        self.disposition = None
        self.rectify_deadline = None
        self.closed_at = None
        self.supervised_at = None
        to = Status.ASSIGNED if self.assignee_code else Status.TRIAGE
        self._move("reopened", actor, now, to, reason.strip())

    # --- what may be done next -----------------------------------------------------
    def next_actions(self, actor: Actor) -> tuple[CaseAction, ...]:
        """The actions this actor may take on the case now, in the order they are offered."""
        if actor.role is Role.PARENT:
            return self._parent_actions(actor)
        if actor.role is Role.SUPERVISOR:
            return self._supervisor_actions(actor)
        if actor.role is Role.STAFF:
            return self._staff_actions()
        return ()

    def _parent_actions(self, actor: Actor) -> tuple[CaseAction, ...]:
        if actor.user_id != self.reporter_user_id:
            return ()
        if self.status is Status.AWAITING_INFO:
            return (CaseAction.ANSWER,)
        if self.is_open:
            return (CaseAction.ADD_INFO,)
        if self.awaiting_merged_outcome:
            return ()
        if self.rating is None:
            return (CaseAction.RATE,)
        if self.rating is Rating.DISSATISFIED and self.reopen_count == 0:
            return (CaseAction.REOPEN,)
        return ()

    def _supervisor_actions(self, actor: Actor) -> tuple[CaseAction, ...]:
        if actor.person_code is None or actor.person_code != self.assignee_code:
            return ()
        if self.status is Status.ASSIGNED:
            return CaseAction.ACCEPT, CaseAction.HAND_BACK
        if self.status is Status.ACCEPTED:
            return CaseAction.PROPOSE, CaseAction.ASK, CaseAction.HAND_BACK
        if self.status is Status.RECTIFYING:
            if self.pending_extension is None:
                return CaseAction.REPORT_DONE, CaseAction.REQUEST_EXTENSION
            return (CaseAction.REPORT_DONE,)
        if self.pending_recheck is not None:
            return (CaseAction.RECHECK,)
        return ()

    def _staff_actions(self) -> tuple[CaseAction, ...]:
        pending = self.pending_rung
        if pending is not None:
            ladder = (CaseAction.RECORD_INTERVIEW if pending is Rung.INTERVIEW
                      else CaseAction.RECORD_COUNTY_REPORT,)
            return ladder + self._staff_status_actions()
        return self._staff_status_actions()

    def _staff_status_actions(self) -> tuple[CaseAction, ...]:
        if self.status is Status.TRIAGE:
            return CaseAction.TRIAGE, CaseAction.DECLINE
        if self.status in (Status.ASSIGNED, Status.ACCEPTED):
            return CaseAction.REASSIGN, CaseAction.SUPERVISE
        if self.status is Status.PROPOSED:
            return CaseAction.APPROVE, CaseAction.REJECT, CaseAction.SUPERVISE
        if self.status is Status.RECTIFYING:
            if self.pending_extension is not None:
                return (CaseAction.GRANT_EXTENSION, CaseAction.REFUSE_EXTENSION,
                        CaseAction.SUPERVISE)
            return (CaseAction.SUPERVISE,)
        if self.status is Status.RECTIFICATION_REPORTED:
            return CaseAction.VERIFY_PASS, CaseAction.VERIFY_FAIL
        return ()


@dataclass(frozen=True)
class Responsibility:
    """What the directory knows about the entity a tip names."""

    school_supervisor: str | None = None  # the school's 责任督学
    institution_supervisor: str | None = None  # the institution's liaison
    district_tutoring_supervisor: str | None = None  # the district's 校外培训监管督学


@dataclass(frozen=True)
class RoutingDecision:
    assignee_code: str | None
    reason: str


@dataclass(frozen=True)
class Candidate:
    """A supervisor who answers for a tip, and why (the routing reason)."""

    code: str
    reason: str  # school_supervisor | institution_liaison | district_tutoring_supervisor


# Which candidates filing may assign without asking the office, per kind of category.
_ROUTABLE = {"school": frozenset({"school_supervisor"}),
             "tutoring": frozenset({"institution_liaison", "district_tutoring_supervisor"})}


def _kind(category: str) -> str | None:
    if category in SCHOOL_CATEGORIES:
        return "school"
    if category in TUTORING_CATEGORIES:
        return "tutoring"
    return None


def candidates(category: str, responsibility: Responsibility, *,
               about_school: bool = True) -> list[Candidate]:
    """The supervisors responsible for a tip, most responsible first (the one routing policy).

    School categories go to the school's 责任督学 first, tutoring categories to the
    institution's liaison, then the district's 校外培训监管督学; a tip of another category
    follows the entity it names (`about_school`).
    """
    school = Candidate(responsibility.school_supervisor or "", "school_supervisor")
    liaison = Candidate(responsibility.institution_supervisor or "", "institution_liaison")
    district = Candidate(responsibility.district_tutoring_supervisor or "",
                         "district_tutoring_supervisor")
    kind = _kind(category)
    if kind == "school" or (kind is None and about_school):
        order = [school, liaison, district]
    else:
        order = [liaison, district, school]
    seen: set[str] = set()
    out = []
    for candidate in order:
        if candidate.code and candidate.code not in seen:
            seen.add(candidate.code)
            out.append(candidate)
    return out


def route(category: str, confidence: float, threshold: float,
          responsibility: Responsibility) -> RoutingDecision:
    """Decide who handles a tip: the first candidate, if filing may assign them without the
    office; anything uncertain goes to office triage, never guessed."""
    if confidence < threshold:
        return RoutingDecision(None, "low_confidence")
    kind = _kind(category)
    if kind is None:
        return RoutingDecision(None, "other_category")
    found = candidates(category, responsibility)
    if found and found[0].reason in _ROUTABLE[kind]:
        return RoutingDecision(found[0].code, found[0].reason)
    return RoutingDecision(None, "no_school" if kind == "school" else "no_institution")
