"""The import service on a fake store: references the files leave open, all-or-nothing."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from bot.directory.files import read_directory_files
from bot.directory.rows import DirectoryData, parse_row
from bot.directory.service import (
    DirectoryImportError,
    DirectoryStore,
    TableReport,
    import_directory,
)

SCHOOLS = ("code,name,district_code,supervisor_code\n"
           "S1,青溪县实验小学,QX-CG,DX01\n"
           "S2,青溪县第二中学,NOPE,DX13\n"
           "S3,青溪县第三中学,,DDS01\n"
           "S4,青溪县第四中学,QX-CG,NOBODY\n")


class FakeDirectoryStore:
    """A stored directory in dicts; `upserted` records what the service wrote."""

    def __init__(self, roles: dict[str, str], districts: set[str]) -> None:
        self.roles = roles
        self.districts = districts
        self.upserted: list[DirectoryData] = []

    async def person_roles(self, codes: Collection[str]) -> dict[str, str]:
        return {code: self.roles[code] for code in codes if code in self.roles}

    async def district_codes(self, codes: Collection[str]) -> set[str]:
        return set(codes) & self.districts

    async def upsert(self, data: DirectoryData) -> dict[str, TableReport]:
        self.upserted.append(data)
        return {"schools": TableReport(added=len(data.schools))}


class FakeUnitOfWork:
    def __init__(self, store: FakeDirectoryStore) -> None:
        self.store = store
        self.committed = False

    @property
    def directory_store(self) -> DirectoryStore:
        return self.store

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        return None

    async def commit(self) -> None:
        self.committed = True


def read_schools(tmp_path: Path, text: str) -> DirectoryData:
    path = tmp_path / "schools.csv"
    path.write_text(text, encoding="utf-8")
    return read_directory_files([path])


STORED = {"DX01": "responsible", "DX13": "tutoring", "DDS01": "staff"}


async def test_references_neither_files_nor_store_satisfy_change_nothing(tmp_path: Path) -> None:
    uow = FakeUnitOfWork(FakeDirectoryStore(STORED, {"QX-CG"}))
    with pytest.raises(DirectoryImportError) as caught:
        await import_directory(lambda: uow, read_schools(tmp_path, SCHOOLS))
    assert caught.value.problems == [
        "schools.csv 第3行：所属区县代码“NOPE”在目录中不存在",
        "schools.csv 第3行：责任督学代码“DX13”是校外培训监管督学，这里需要责任督学",
        "schools.csv 第4行：责任督学代码“DDS01”是督导室工作人员，不是督学",
        "schools.csv 第5行：责任督学代码“NOBODY”在目录中不存在",
    ]
    assert uow.store.upserted == [] and not uow.committed


async def test_stored_references_are_accepted_and_committed(tmp_path: Path) -> None:
    uow = FakeUnitOfWork(FakeDirectoryStore(STORED, {"QX-CG"}))
    data = read_schools(tmp_path, "code,name,district_code,supervisor_code\n"
                                  "S1,青溪县实验小学,QX-CG,DX01\nS2,青溪县第二中学,,\n")
    report = await import_directory(lambda: uow, data)
    assert report.lines() == ["学校：新增 2，更新 0，未变 0"]
    assert uow.store.upserted == [data] and uow.committed


async def test_an_institution_may_name_either_kind_of_supervisor(tmp_path: Path) -> None:
    path = tmp_path / "institutions.csv"
    path.write_text("code,name,supervisor_code\nJ1,阳光午托班,DX13\nJ2,睿思辅导,DX01\n",
                    encoding="utf-8")
    uow = FakeUnitOfWork(FakeDirectoryStore(STORED, set()))
    await import_directory(lambda: uow, read_directory_files([path]))
    assert uow.committed


def test_a_row_model_reports_every_bad_field_with_its_label() -> None:
    parsed = parse_row("supervisors", "督学.csv:2",
                       {"code": "", "name": "王" * 51, "role": "校长", "phone": "call me"})
    assert parsed.row is None
    assert [p.render() for p in parsed.problems] == [
        "督学.csv 第2行：督学代码为空",
        "督学.csv 第2行：督学姓名太长（51 个字，最多 50 个）",
        "督学.csv 第2行：督学类别“校长”无效，应填：责任督学、校外培训监管督学",
        "督学.csv 第2行：电话“call me”格式不对",
    ]


def test_a_row_model_keeps_absent_and_empty_apart() -> None:
    parsed = parse_row("institutions", "i.csv:2",
                       {"code": "J1", "name": "阳光午托班", "licensed": "", "kind": "",
                        "aliases": "午托|阳"})
    row = parsed.row
    assert row is not None and row.table == "institutions"
    assert (row.licensed, row.kind, row.district_code, row.aliases) == (
        None, "", None, ("午托", "阳"))
    assert [w.key for w in parsed.warnings] == ["directory.warning.short_alias"]
