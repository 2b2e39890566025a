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
        "schools.csv 第3行 “所属区县代码”列：“NOPE”在目录中不存在",
        "schools.csv 第3行 “责任督学代码”列：“DX13”是校外培训监管督学，这里需要责任督学",
        "schools.csv 第4行 “责任督学代码”列：“DDS01”是督导室工作人员，不是督学",
        "schools.csv 第5行 “责任督学代码”列：“NOBODY”在目录中不存在",
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
        "督学.csv 第2行 “督学代码”列：不能为空",
        "督学.csv 第2行 “督学姓名”列：太长（51 个字，最多 50 个）",
        "督学.csv 第2行 “督学类别”列：“校长”无效，应填：责任督学、校外培训监管督学",
        "督学.csv 第2行 “电话”列：“call me”格式不对",
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


# --- a code names one person with one role, across the whole database ----------------------


async def test_a_staff_file_cannot_turn_a_stored_supervisor_into_staff(tmp_path: Path) -> None:
    uow = FakeUnitOfWork(FakeDirectoryStore(STORED, {"QX-CG"}))
    path = tmp_path / "staff.csv"
    path.write_text("code,name\nDDS02,新同事\nDX01,王建国\n", encoding="utf-8")
    with pytest.raises(DirectoryImportError) as caught:
        await import_directory(lambda: uow, read_directory_files([path]))
    assert caught.value.problems == [
        "staff.csv 第3行 “工作人员代码”列：代码 DX01 在目录中已是责任督学，不能改为督导室工作人员："
        "学校、区县和案件都按代码找人，一个代码始终只代表一个人、一种角色。"
        "请为这位督导室工作人员另用一个未用过的代码。"]
    assert uow.store.upserted == [] and not uow.committed  # DDS02 is not added either


@pytest.mark.parametrize(("text", "stored", "new"), [
    ("code,name,role\nDX13,张志强,责任督学\n", "校外培训监管督学", "责任督学"),
    ("code,name,role\nDDS01,林晓琳,责任督学\n", "督导室工作人员", "责任督学"),
])
async def test_a_supervisor_file_cannot_change_a_stored_role(tmp_path: Path, text: str,
                                                             stored: str, new: str) -> None:
    uow = FakeUnitOfWork(FakeDirectoryStore(STORED, set()))
    path = tmp_path / "supervisors.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DirectoryImportError) as caught:
        await import_directory(lambda: uow, read_directory_files([path]))
    [line] = caught.value.problems
    code = text.split()[1].split(",")[0]
    assert line.startswith(f"supervisors.csv 第2行 “督学代码”列：代码 {code} ")
    assert f"已是{stored}，不能改为{new}" in line
    assert uow.store.upserted == []


async def test_the_same_role_again_is_an_ordinary_update(tmp_path: Path) -> None:
    uow = FakeUnitOfWork(FakeDirectoryStore(STORED, set()))
    path = tmp_path / "supervisors.csv"
    path.write_text("code,name,role\nDX01,王建国,责任督学\n", encoding="utf-8")
    await import_directory(lambda: uow, read_directory_files([path]))
    assert uow.committed


# --- one format for every location ---------------------------------------------------------


async def test_reader_and_reference_check_say_where_the_same_way(tmp_path: Path) -> None:
    import re

    from bot.directory.problems import DirectoryFileError

    bad = tmp_path / "bad" / "schools.csv"
    bad.parent.mkdir()
    bad.write_text("code,name,district_code,supervisor_code\nS1,,QX-CG,DX01\n", encoding="utf-8")
    with pytest.raises(DirectoryFileError) as read_error:
        read_directory_files([bad])
    uow = FakeUnitOfWork(FakeDirectoryStore(STORED, {"QX-CG"}))
    with pytest.raises(DirectoryImportError) as check_error:
        await import_directory(lambda: uow, read_schools(tmp_path, SCHOOLS))
    lines = [str(read_error.value), *check_error.value.problems]
    shape = re.compile(r"schools\.csv 第\d+行 “(学校名称|所属区县代码|责任督学代码)”列：\S+")
    assert all(shape.fullmatch(line) for line in lines), lines
    assert lines[0] == "schools.csv 第2行 “学校名称”列：不能为空"
    rows = [int(re.search(r"第(\d+)行", line)[1]) for line in lines[1:]]  # type: ignore[index]
    assert rows == sorted(rows)  # in file order, whatever was checked first
