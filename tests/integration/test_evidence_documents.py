"""Evidence kept safely (checks, hashes, the retention run) and the office's DOCX documents,
on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from docx import Document

from bot.documents import DocumentKind, DocumentRules, DocumentService
from bot.domain import Disposition, DomainError, Status
from bot.evidence import EvidenceService
from bot.evidence_store import EvidenceStore
from bot.services import EvidenceInput
from tests.support.evidence import exif_of, gps_jpeg
from tests.support.sql import Units
from tests.support.worlds import PARENT, STAFF, SUP1, SUP2, TZ, World, get, tip, to_rectifying

pytestmark = pytest.mark.postgres
PDF = b"%PDF-1.4 a letter from the school"


def evidence_service(world: World, root: Path, retention_days: int = 30) -> EvidenceService:
    return EvidenceService(Units(world.engine), world.clock, EvidenceStore(root),
                           max_bytes=1_000_000, retention_days=retention_days)


def downloader(files: dict[str, bytes]):  # type: ignore[no-untyped-def]
    async def download(file_id: str) -> bytes:
        return files[file_id]
    return download


async def attach(world: World, reference: str, file_id: str, kind: str = "photo") -> None:
    await world.cases.add_evidence(PARENT, reference, EvidenceInput(
        kind=kind, file_id=file_id, file_unique_id=file_id + "-u", mime_type="image/jpeg",
        size=0, file_name=f"{file_id}.bin"))


async def test_retention_deletes_an_expired_closed_cases_files_and_audits_it(
        world: World, tmp_path: Path) -> None:
    photo = gps_jpeg()
    files = {"P1": photo, "D1": PDF, "P2": photo, "X1": b"MZ\x90\x00 an executable"}
    closed = (await world.filing.file_tip(tip())).reference
    still_open = (await world.filing.file_tip(tip(text="四年级作业也很多"))).reference
    await attach(world, closed, "P1")
    await attach(world, closed, "D1", kind="document")
    await attach(world, still_open, "P2")  # the same photo: one stored file for both
    await attach(world, still_open, "X1", kind="document")
    root = tmp_path / "evidence"
    service = evidence_service(world, root)
    first = await service.open(STAFF, closed, downloader(files))
    second = await service.open(STAFF, still_open, downloader(files))
    assert len(first.files) == 2 and first.unreadable == 0
    assert len(second.files) == 1 and second.unreadable == 1  # an .exe is refused by its bytes
    stored = sorted(p.name for p in root.rglob("*") if p.is_file())
    assert stored == sorted([_sha(photo), _sha(PDF)])  # the photo once (dedup), the PDF

    await world.cases.perform(SUP1, closed, lambda c, a, now: c.accept(a, now))
    await world.cases.perform(SUP1, closed, lambda c, a, now: c.propose(
        a, Disposition.FIXED, now, note="已调整作业量"))
    await world.office.approve(STAFF, closed)
    assert (await get(world, closed)).status is Status.CLOSED
    world.clock.current += timedelta(days=29)
    assert (await service.purge_expired()).cases == 0  # not yet expired
    world.clock.current += timedelta(days=2)
    run = await service.purge_expired()
    assert (run.cases, run.files, run.deleted) == (1, 2, 1)  # the shared photo is kept
    assert [p.name for p in root.rglob("*") if p.is_file()] == [_sha(photo)]
    assert (root / _sha(photo)[:2] / _sha(photo)).read_bytes() == photo
    case = await get(world, closed)
    [event] = [e for e in case.events if e.action == "evidence_purged"]
    assert event.data == {"files": 2, "retention_days": 30} and event.actor_role == "system"
    assert case.status is Status.CLOSED
    async with world.uow() as uow:
        assert await uow.cases.evidence(case) == []
        open_case = await uow.cases.get(still_open)
        assert open_case is not None and len(await uow.cases.evidence(open_case)) == 2
        assert not [e for e in open_case.events if e.action == "evidence_purged"]
    view = await service.open(STAFF, closed, downloader(files))
    assert view.files == []
    assert (await service.purge_expired()).cases == 0  # nothing left to do, nothing twice


async def test_the_supervisor_gets_photos_cleaned_and_others_are_refused(
        world: World, tmp_path: Path) -> None:
    reference = (await world.filing.file_tip(tip())).reference
    await attach(world, reference, "P1")
    service = evidence_service(world, tmp_path)
    files = {"P1": gps_jpeg()}
    view = await service.open(SUP1, reference, downloader(files))
    [photo] = view.files
    assert photo.data is not None and exif_of(photo.data) == {}
    await service.remember_clean(photo.evidence_id, "CLEAN-ID")
    again = await service.open(SUP1, reference, downloader({}))  # no second download
    assert [(f.file_id, f.data) for f in again.files] == [("CLEAN-ID", None)]
    staff = await service.open(STAFF, reference, downloader({}))
    assert [f.file_id for f in staff.files] == ["P1"]
    for stranger in (SUP2, PARENT + 50):
        with pytest.raises(DomainError):
            await service.open(stranger, reference, downloader(files))
    assert await service.visible_count(PARENT + 50, reference) == 0
    assert await service.visible_count(PARENT, reference) == 1


def document_text(data: bytes) -> str:
    document = Document(io.BytesIO(data))
    return "\n".join(p.text for p in document.paragraphs)


async def test_a_rectification_notice_holds_the_case_and_is_audited(world: World) -> None:
    reference = (await world.filing.file_tip(tip())).reference
    await world.cases.perform(SUP1, reference, lambda c, a, now: c.accept(a, now))
    await world.cases.perform(SUP1, reference, lambda c, a, now: c.propose(
        a, Disposition.RECTIFY, now, note="三年级数学作业每天超过两小时，联系电话13812345678",
        deadline=date(2026, 12, 8)))
    await world.office.approve(STAFF, reference)
    documents = DocumentService(Units(world.engine), world.clock, DocumentRules(
        office_name="青溪县人民政府教育督导室", seal_text="（印章）", templates_dir="", tz=TZ))
    issued = await documents.issue(STAFF, DocumentKind.RECTIFICATION_NOTICE, reference)
    text = document_text(issued.data)
    assert reference in text and "青溪县城关第一小学" in text
    assert "三年级数学作业每天超过两小时" in text and "138****5678" in text  # masked
    assert "2026年12月8日" in text and "青溪县人民政府教育督导室" in text and "（印章）" in text
    assert "{{" not in text and issued.number in text
    assert issued.file_name.endswith(".docx") and reference in issued.file_name
    case = await get(world, reference)
    [event] = [e for e in case.events if e.action == "document_issued"]
    assert event.data == {"kind": "rectification_notice", "number": issued.number}
    with pytest.raises(DomainError):
        await documents.issue(SUP1, DocumentKind.RECTIFICATION_NOTICE, reference)
    with pytest.raises(DomainError):  # no 督办 issued yet
        await documents.issue(STAFF, DocumentKind.SUPERVISION_LETTER, reference)
    await world.cases.perform(STAFF, reference, lambda c, a, now: c.supervise(a, now))
    letter = await documents.issue(STAFF, DocumentKind.SUPERVISION_LETTER, reference)
    text = document_text(letter.data)
    assert "督办函" in text and reference in text and "2026年12月8日" in text
    second = await documents.issue(STAFF, DocumentKind.RECTIFICATION_NOTICE, reference)
    assert second.number != issued.number  # numbered per issue


async def test_a_case_without_a_rectification_gets_no_notice(world: World) -> None:
    reference = (await world.filing.file_tip(tip())).reference
    await to_rectifying(world, reference, date(2026, 12, 8))
    documents = DocumentService(Units(world.engine), world.clock, DocumentRules(
        office_name="督导室", seal_text="", templates_dir="", tz=TZ))
    other = (await world.filing.file_tip(tip(text="四年级作业也很多"))).reference
    with pytest.raises(DomainError) as refused:
        await documents.issue(STAFF, DocumentKind.RECTIFICATION_NOTICE, other)
    assert refused.value.key == "document.error.no_rectification"
    events = [e.action for e in (await get(world, other)).events]
    assert "document_issued" not in events


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
