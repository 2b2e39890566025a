"""The office's formal documents as DOCX: 整改通知书, 督办函 and the quarterly 通报.

Each is rendered with docxtpl from a Word template the office may edit (the shipped ones are
in data/templates/, written by data/templates/make_templates.py; `[documents] templates_dir`
points at an office's own), with the office's name and a seal placeholder. Staff issue a
case's document from the case card; the issue is recorded in the case's audit trail with
its number. Rendering is pure (`render_docx`); the service checks who asks and what may be
issued now.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain import Actor, Case, Disposition, DomainError, Role
from bot.messages import t
from bot.ports import Clock, UnitOfWork, UnitOfWorkFactory
from bot.privacy import mask_personal_data
from bot.services import staff_member

SHIPPED_TEMPLATES = Path(__file__).resolve().parent.parent / "data" / "templates"


class DocumentKind(StrEnum):
    RECTIFICATION_NOTICE = "rectification_notice"  # 整改通知书
    SUPERVISION_LETTER = "supervision_letter"  # 督办函
    QUARTERLY_BULLETIN = "quarterly_bulletin"  # 季度通报


@dataclass(frozen=True)
class DocumentRules:
    office_name: str
    seal_text: str
    templates_dir: str  # "" = the shipped templates
    tz: ZoneInfo

    def template(self, kind: DocumentKind) -> Path:
        folder = Path(self.templates_dir) if self.templates_dir else SHIPPED_TEMPLATES
        return folder / f"{kind.value}.docx"


@dataclass(frozen=True)
class IssuedDocument:
    kind: DocumentKind
    reference: str
    number: str
    file_name: str
    data: bytes


def render_docx(template: Path, context: dict[str, Any]) -> bytes:
    """Fill a DOCX template's placeholders (blocking: call in a thread)."""
    from docxtpl import DocxTemplate

    document = DocxTemplate(str(template))
    document.render(context, autoescape=True)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def findings_of(case: Case) -> str:
    """What was found: the supervisor's note on the proposal, else the tip (personal data
    masked: the document goes to the school)."""
    return mask_personal_data(case.disposition_note.strip() or case.text.strip())


class DocumentService:
    """Issues a case's 整改通知书 or 督办函 to staff, recorded in the audit trail."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, rules: DocumentRules) -> None:
        self.uow = uow
        self.clock = clock
        self.rules = rules

    async def issue(self, user_id: int, kind: DocumentKind, reference: str) -> IssuedDocument:
        person = await staff_member(self.uow, user_id)
        actor = Actor(Role.STAFF, person_code=person.code, user_id=user_id)
        now = self.clock.now()
        async with self.uow() as uow:
            case = await uow.cases.get_for_update(reference.strip().upper())
            if case is None:
                raise DomainError("case.error.not_found", reference=reference[:40])
            _require_issuable(case, kind)
            number = self._number(case, kind, now.astimezone(self.rules.tz).date())
            context = await self._case_context(uow, case, number,
                                               now.astimezone(self.rules.tz).date())
            data = await asyncio.to_thread(render_docx, self.rules.template(kind), context)
            case.record("document_issued", actor, now, kind=kind.value, number=number)
            await uow.cases.save(case)
            await uow.commit()
        file_name = f"{t(f'document.name.{kind.value}')}-{case.reference}.docx"
        return IssuedDocument(kind, case.reference, number, file_name, data)

    def _number(self, case: Case, kind: DocumentKind, today: date) -> str:
        issued = sum(1 for e in case.events
                     if e.action == "document_issued" and e.data.get("kind") == kind.value)
        return t(f"document.number.{kind.value}", year=today.year, reference=case.reference,
                 seq=issued + 1)

    async def _case_context(self, uow: UnitOfWork, case: Case, number: str,
                            today: date) -> dict[str, Any]:
        entity = ""
        if case.school_code:
            entity = (await uow.directory.names("school", [case.school_code])).get(
                case.school_code, "")
        elif case.institution_code:
            entity = (await uow.directory.names("institution", [case.institution_code])).get(
                case.institution_code, "")
        supervisor = ""
        if case.assignee_code:
            found = await uow.directory.person(case.assignee_code)
            supervisor = found.name if found else ""
        supervised = case.supervised_at.astimezone(self.rules.tz).date() \
            if case.supervised_at else today
        return {
            "office_name": self.rules.office_name, "seal": self.rules.seal_text,
            "number": number, "reference": case.reference,
            "school": entity or t("document.unknown_entity"),
            "category": t(f"category.{case.category}"), "supervisor": supervisor,
            "findings": findings_of(case),
            "requirement": t(f"document.requirement.{case.category}"),
            "deadline": chinese_date(case.rectify_deadline) if case.rectify_deadline else "",
            "supervised_on": chinese_date(supervised), "issued_on": chinese_date(today)}


def _require_issuable(case: Case, kind: DocumentKind) -> None:
    if kind is DocumentKind.RECTIFICATION_NOTICE:
        if case.disposition is not Disposition.RECTIFY or case.rectify_deadline is None \
                or not case.is_open:
            raise DomainError("document.error.no_rectification", reference=case.reference)
    elif kind is DocumentKind.SUPERVISION_LETTER:
        if case.supervised_at is None or not case.is_open:
            raise DomainError("document.error.not_supervised", reference=case.reference)
    else:
        raise DomainError("document.error.kind")
