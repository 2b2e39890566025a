"""Evidence rules on the fake unit of work: who sees which files, what the checks refuse,
and what each reader is sent. Files are kept in a temporary folder."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain import DomainError, Role
from bot.evidence import EvidenceService, sniff_type, strip_metadata
from bot.evidence_store import EvidenceStore
from bot.filing import FilingService, Rules, TipInput
from bot.services import CaseService, EvidenceInput
from tests.support.evidence import exif_of, gps_jpeg
from tests.support.fakes import Entity, FakeClock, FakeStore, FakeUnitOfWorkFactory

PARENT, OTHER_PARENT, SUP1, SUP2, STAFF = 1001, 1002, 2001, 2002, 3001
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def setup(tmp_path: Path, max_bytes: int = 100_000):  # type: ignore[no-untyped-def]
    store = FakeStore()
    store.add_person("S01", "王督学", "responsible", SUP1)
    store.add_person("S02", "李督学", "responsible", SUP2)
    store.add_person("ST1", "陈老师", "staff", STAFF)
    store.districts["D01"] = ("城关镇", None)
    store.schools["SCH01"] = Entity("城关第一小学", "D01", "S01")
    uow = FakeUnitOfWorkFactory(store)
    clock = FakeClock(NOW)
    cases = CaseService(uow, clock)
    filing = FilingService(cases, Rules(tips_per_hour=10, threshold=0.6))
    service = EvidenceService(uow, clock, EvidenceStore(tmp_path), max_bytes=max_bytes,
                              retention_days=30)
    return cases, filing, service


def tip_with(*items: tuple[str, str]) -> TipInput:
    return TipInput(text="三年级作业每天写到晚上十一点", reporter_user_id=PARENT,
                    category="homework_burden", confidence=0.95, school_code="SCH01",
                    evidence=tuple(EvidenceInput(kind=kind, file_id=fid, file_unique_id=fid,
                                                 mime_type="", size=0)
                                   for kind, fid in items))


def downloads(files: dict[str, bytes]):  # type: ignore[no-untyped-def]
    async def download(file_id: str) -> bytes:
        return files[file_id]
    return download


def heic() -> bytes:
    return b"\x00\x00\x00\x18ftypheic" + b"\x00" * 32


async def test_each_reader_gets_what_their_role_allows(tmp_path: Path) -> None:
    cases, filing, service = setup(tmp_path)
    filed = await filing.file_tip(tip_with(("photo", "P1"), ("document", "D1"),
                                           ("document", "H1")))
    ref = filed.reference
    await cases.add_evidence(SUP1, ref, EvidenceInput(kind="photo", file_id="R1",
                                                      file_unique_id="R1"))
    files = {"P1": gps_jpeg(), "D1": b"%PDF-1.7 minutes", "H1": heic(), "R1": gps_jpeg()}
    staff = await service.open(STAFF, ref, downloads(files))
    assert [f.file_id for f in staff.files] == ["P1", "D1", "H1", "R1"]
    assert staff.role is Role.STAFF and all(f.data is None for f in staff.files)
    supervisor = await service.open(SUP1, ref, downloads({}))  # stored by now: no download
    assert [(f.kind, f.file_id is None) for f in supervisor.files] == [
        ("photo", True), ("document", False), ("photo", True)]
    assert supervisor.unreadable == 1  # a HEIC cannot be cleaned: never sent uncleaned
    assert all(exif_of(f.data) == {} for f in supervisor.files if f.data is not None)
    parent = await service.open(PARENT, ref, downloads({}))
    assert [f.file_id for f in parent.files] == ["P1", "D1", "H1"]  # not the supervisor's
    for stranger in (OTHER_PARENT, SUP2):
        with pytest.raises(DomainError):
            await service.open(stranger, ref, downloads(files))
    with pytest.raises(DomainError):
        await service.open(STAFF, "SJ-2026-999999", downloads(files))


async def test_size_and_type_are_checked_by_the_bytes(tmp_path: Path) -> None:
    _, filing, service = setup(tmp_path, max_bytes=2_000)
    filed = await filing.file_tip(tip_with(("document", "EXE"), ("photo", "BIG"),
                                           ("document", "NAMED_PDF"), ("photo", "GONE")))

    async def download(file_id: str) -> bytes:
        if file_id == "GONE":
            raise OSError("Telegram says the file is gone")
        return {"EXE": b"MZ\x90\x00", "BIG": b"\xff\xd8\xff" + b"\x00" * 5_000,
                "NAMED_PDF": b"%PDF-1.4"}[file_id]

    view = await service.open(STAFF, filed.reference, download)
    assert [f.file_id for f in view.files] == ["NAMED_PDF"] and view.unreadable == 3
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] != []


def test_types_are_told_by_their_first_bytes() -> None:
    assert sniff_type(gps_jpeg()) == "image/jpeg"
    assert sniff_type(b"%PDF-1.4") == "application/pdf"
    assert sniff_type(b"PK\x03\x04rest") == "application/zip"
    assert sniff_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_type(heic()) == "image/heic"
    assert sniff_type(b"MZ\x90\x00") is None and sniff_type(b"") is None


def test_stripping_keeps_the_picture_and_drops_every_tag() -> None:
    from PIL import Image

    original = gps_jpeg((10, 200, 30), (40, 30))
    clean = strip_metadata(original)
    with Image.open(io.BytesIO(clean)) as image:
        assert image.size == (40, 30) and image.format == "JPEG"
        r, g, b = image.convert("RGB").getpixel((20, 15))  # type: ignore[misc]
        assert g > 150 and r < 60 and b < 80
    assert exif_of(clean) == {}


async def test_the_ingest_job_keeps_originals_nobody_opened_yet(tmp_path: Path) -> None:
    _, filing, service = setup(tmp_path)
    await filing.file_tip(tip_with(("photo", "P1"), ("document", "EXE")))
    assert await service.ingest_pending() == 0  # no transport attached yet: nothing to do
    calls: list[str] = []

    async def download(file_id: str) -> bytes:
        calls.append(file_id)
        return {"P1": gps_jpeg(), "EXE": b"MZ\x90\x00"}[file_id]

    service.downloader = download
    assert await service.ingest_pending() == 1
    assert [p.parent.name for p in tmp_path.rglob("*") if p.is_file()] != []
    assert await service.ingest_pending() == 0  # kept once; the refused file is not retried
    assert calls == ["P1", "EXE"]
