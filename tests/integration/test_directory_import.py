"""Directory import into the database: upsert by code, all-or-nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.directory.files import read_directory_files
from bot.directory.problems import DirectoryFileError
from bot.directory.service import DirectoryImportError, import_directory
from storage.db import session_factory
from storage.models import District, Institution, Person, School
from tests.support.sql import Units

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "directory"
pytestmark = pytest.mark.postgres


async def counts(engine: AsyncEngine) -> dict[str, int]:
    out = {}
    async with session_factory(engine)() as s:
        for model in (District, School, Institution, Person):
            out[model.__tablename__] = int(
                (await s.execute(select(func.count()).select_from(model))).scalar_one())
    return out


def uow_factory(engine: AsyncEngine):  # type: ignore[no-untyped-def]
    return Units(engine)


async def test_sample_imports_and_reimport_is_a_no_op(engine: AsyncEngine) -> None:
    data = read_directory_files(sorted(SAMPLE.glob("*.csv")))
    first = await import_directory(uow_factory(engine), data)
    assert first.tables["schools"].added == len(data.schools) >= 40
    before = await counts(engine)
    second = await import_directory(uow_factory(engine), data)
    assert second.tables["schools"].added == 0 and second.tables["schools"].changed == 0
    assert second.tables["schools"].unchanged == len(data.schools)
    assert await counts(engine) == before


async def test_changed_rows_are_updated_and_missing_rows_kept(engine: AsyncEngine,
                                                              tmp_path: Path) -> None:
    await import_directory(uow_factory(engine), read_directory_files(sorted(SAMPLE.glob("*.csv"))))
    before = await counts(engine)
    lines = (SAMPLE / "schools.csv").read_text(encoding="utf-8").splitlines()
    header, first = lines[0], lines[1].split(",")
    first[1] = first[1] + "新校区"
    (tmp_path / "schools.csv").write_text(header + "\n" + ",".join(first) + "\n", encoding="utf-8")
    report = await import_directory(uow_factory(engine),
                                    read_directory_files([tmp_path / "schools.csv"]))
    assert report.tables["schools"].changed == 1
    assert await counts(engine) == before  # the other schools are not deleted
    async with session_factory(engine)() as s:
        name = (await s.execute(select(School.name).where(School.code == first[0]))).scalar()
    assert name == first[1]


async def test_unknown_reference_changes_nothing(engine: AsyncEngine, tmp_path: Path) -> None:
    for name in ("districts.csv", "supervisors.csv", "staff.csv"):
        shutil.copy(SAMPLE / name, tmp_path / name)
    (tmp_path / "schools.csv").write_text(
        "code,name,district_code,supervisor_code\n"
        "NEW-1,新建小学,QX-CG,DX01\n"
        "NEW-2,另一所小学,NOPE-DISTRICT,NOBODY\n", encoding="utf-8")
    data = read_directory_files(sorted(tmp_path.glob("*.csv")))
    with pytest.raises(DirectoryImportError) as err:
        await import_directory(uow_factory(engine), data)
    assert any("NOPE-DISTRICT" in p for p in err.value.problems)
    assert any("NOBODY" in p for p in err.value.problems)
    assert await counts(engine) == {"districts": 0, "schools": 0, "institutions": 0, "people": 0}


def test_bad_file_is_refused_before_the_database(tmp_path: Path) -> None:
    (tmp_path / "schools.csv").write_text("code,name\n,无代码的学校\n", encoding="utf-8")
    with pytest.raises(DirectoryFileError) as err:
        read_directory_files([tmp_path / "schools.csv"])
    assert "第2行" in str(err.value)


async def test_reimport_without_optional_columns_keeps_stored_values(engine: AsyncEngine,
                                                                      tmp_path: Path) -> None:
    await import_directory(uow_factory(engine), read_directory_files(sorted(SAMPLE.glob("*.csv"))))
    (tmp_path / "schools.csv").write_text("code,name\nQX-S001,青溪县城关第一小学\n",
                                          encoding="utf-8")
    report = await import_directory(uow_factory(engine),
                                    read_directory_files([tmp_path / "schools.csv"]))
    assert report.tables["schools"].unchanged == 1
    async with session_factory(engine)() as s:
        row = (await s.execute(select(School).where(School.code == "QX-S001"))).scalar_one()
    assert row.supervisor_id is not None and "城关一小" in row.aliases


async def test_stored_supervisor_of_the_wrong_role_changes_nothing(engine: AsyncEngine,
                                                                    tmp_path: Path) -> None:
    await import_directory(uow_factory(engine), read_directory_files([SAMPLE / "supervisors.csv"]))
    before = await counts(engine)
    (tmp_path / "schools.csv").write_text("code,name,supervisor_code\nNEW-1,新建小学,DX13\n",
                                          encoding="utf-8")
    with pytest.raises(DirectoryImportError) as err:
        await import_directory(uow_factory(engine),
                               read_directory_files([tmp_path / "schools.csv"]))
    assert err.value.problems == [
        "schools.csv 第2行 “责任督学代码”列：“DX13”是校外培训监管督学，这里需要责任督学"]
    assert await counts(engine) == before


async def test_an_empty_cell_clears_a_stored_reference(engine: AsyncEngine,
                                                        tmp_path: Path) -> None:
    await import_directory(uow_factory(engine), read_directory_files(sorted(SAMPLE.glob("*.csv"))))
    (tmp_path / "schools.csv").write_text(
        "code,name,supervisor_code,aliases\nQX-S001,青溪县城关第一小学,,\n", encoding="utf-8")
    report = await import_directory(uow_factory(engine),
                                    read_directory_files([tmp_path / "schools.csv"]))
    assert report.tables["schools"].changed == 1
    async with session_factory(engine)() as s:
        row = (await s.execute(select(School).where(School.code == "QX-S001"))).scalar_one()
    assert (row.supervisor_id, row.aliases, row.district_id is not None) == (None, "", True)


async def test_a_staff_file_alone_cannot_turn_a_supervisor_into_staff(engine: AsyncEngine,
                                                                      tmp_path: Path) -> None:
    await import_directory(uow_factory(engine), read_directory_files(sorted(SAMPLE.glob("*.csv"))))
    before = await counts(engine)
    (tmp_path / "staff.csv").write_text("code,name\nDDS09,新同事\nDX01,王建国\n",
                                        encoding="utf-8")
    with pytest.raises(DirectoryImportError) as err:
        await import_directory(uow_factory(engine), read_directory_files([tmp_path / "staff.csv"]))
    [line] = err.value.problems
    assert line.startswith("staff.csv 第3行 “工作人员代码”列：代码 DX01 在目录中已是责任督学，"
                           "不能改为督导室工作人员")
    assert await counts(engine) == before  # DDS09 was not added either
    async with session_factory(engine)() as s:
        role = (await s.execute(select(Person.role).where(Person.code == "DX01"))).scalar_one()
        schools = (await s.execute(select(func.count()).select_from(School).join(
            Person, School.supervisor_id == Person.id).where(Person.code == "DX01"))).scalar()
    assert role == "responsible" and schools == 4


async def test_the_store_itself_refuses_a_role_change(engine: AsyncEngine,
                                                      tmp_path: Path) -> None:
    await import_directory(uow_factory(engine), read_directory_files([SAMPLE / "supervisors.csv"]))
    (tmp_path / "staff.csv").write_text("code,name\nDX01,王建国\n", encoding="utf-8")
    data = read_directory_files([tmp_path / "staff.csv"])
    async with uow_factory(engine)() as uow:
        with pytest.raises(ValueError, match="DX01"):
            await uow.directory_store.upsert(data)


async def stored_rows(engine: AsyncEngine) -> tuple[Institution, Person, District]:
    async with session_factory(engine)() as s:
        inst = (await s.execute(
            select(Institution).where(Institution.code == "QX-J001"))).scalar_one()
        person = (await s.execute(select(Person).where(Person.code == "DX01"))).scalar_one()
        district = (await s.execute(
            select(District).where(District.code == "QX-CG"))).scalar_one()
    return inst, person, district


async def test_left_out_columns_keep_and_empty_cells_clear_every_optional_field(
        engine: AsyncEngine, tmp_path: Path) -> None:
    """What data/directory/README.md promises, field by field."""
    await import_directory(uow_factory(engine), read_directory_files(sorted(SAMPLE.glob("*.csv"))))
    left_out = tmp_path / "left_out"
    left_out.mkdir()
    (left_out / "institutions.csv").write_text("code,name\nQX-J001,启明星培训学校\n", "utf-8")
    (left_out / "supervisors.csv").write_text("code,name,role\nDX01,王建国,责任督学\n", "utf-8")
    (left_out / "districts.csv").write_text("code,name,kind\nQX-CG,城关镇,乡镇\n", "utf-8")
    await import_directory(uow_factory(engine), read_directory_files(sorted(left_out.iterdir())))
    inst, person, district = await stored_rows(engine)
    assert inst.name == "启明星培训学校"  # the given column is updated, the others kept:
    assert (inst.licensed, inst.kind, "启明星" in inst.aliases) == (True, "学科类", True)
    assert inst.district_id is not None and inst.supervisor_id is not None
    assert person.phone == "13800000001" and district.tutoring_supervisor_id is not None

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "institutions.csv").write_text(
        "code,name,district_code,licensed,kind,aliases,supervisor_code\n"
        "QX-J001,启明星培训学校,,,,,\n", "utf-8")
    (empty / "supervisors.csv").write_text("code,name,phone,role\nDX01,王建国,,责任督学\n", "utf-8")
    (empty / "districts.csv").write_text(
        "code,name,kind,tutoring_supervisor_code\nQX-CG,城关镇,乡镇,\n", "utf-8")
    await import_directory(uow_factory(engine), read_directory_files(sorted(empty.iterdir())))
    inst, person, district = await stored_rows(engine)
    assert (inst.district_id, inst.kind, inst.aliases, inst.supervisor_id) == (None, "", "", None)
    assert inst.licensed is True  # 是/否 only: an empty cell keeps it (as the README says)
    assert person.phone == "" and district.tutoring_supervisor_id is None
