"""The escalation ladder (seeds 000 and 004): 督办 → 约谈 → 报告县级督导部门.

Which rung a case stands on is read from its audit trail by one function, `rung`, so every
reader (the scheduler, `/reports`, other reports) counts the same way. The rungs:

- `supervised`: a 督办 was issued (audit event `supervised`, by staff or by `system`);
- `interview`: a second failed 回头看, or a 督办 that ran out, moved the case up
  (event `interview_due` by `system`); staff record the 约谈 (event `interviewed`);
- `county_report`: the case failed again or ran out after the 约谈 (event
  `county_report_due` by `system`); staff record the report (event `county_reported`).

A rung reached is never left: the ladder records what happened to the case.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Protocol


class Rung(StrEnum):
    NONE = "none"
    SUPERVISED = "supervised"
    INTERVIEW = "interview"
    COUNTY_REPORT = "county_report"

    @property
    def level(self) -> int:
        return _ORDER.index(self)


_ORDER = (Rung.NONE, Rung.SUPERVISED, Rung.INTERVIEW, Rung.COUNTY_REPORT)

# The audit event kinds of the ladder (exact names other reports rely on).
SUPERVISED = "supervised"
INTERVIEW_DUE = "interview_due"
INTERVIEWED = "interviewed"
COUNTY_REPORT_DUE = "county_report_due"
COUNTY_REPORTED = "county_reported"

_RUNG_OF = {SUPERVISED: Rung.SUPERVISED, INTERVIEW_DUE: Rung.INTERVIEW,
            INTERVIEWED: Rung.INTERVIEW, COUNTY_REPORT_DUE: Rung.COUNTY_REPORT,
            COUNTY_REPORTED: Rung.COUNTY_REPORT}


class LadderEvent(Protocol):
    """An audit event as the ladder reads it (the domain's CaseEvent, a read model's row)."""

    @property
    def action(self) -> str: ...


def rung(events: Iterable[LadderEvent]) -> Rung:
    """The highest rung of the ladder the case's audit trail has reached."""
    best = Rung.NONE
    for event in events:
        found = _RUNG_OF.get(event.action)
        if found is not None and found.level > best.level:
            best = found
    return best


def next_rung(current: Rung) -> Rung | None:
    """The rung above `current` that a failure or a run-out leads to (None: at the top)."""
    if current is Rung.COUNTY_REPORT:
        return None
    if current in (Rung.NONE, Rung.SUPERVISED):
        return Rung.INTERVIEW
    return Rung.COUNTY_REPORT
