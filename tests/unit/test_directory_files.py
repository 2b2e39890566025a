"""The directory reader: sample data, formats, encodings, and every kind of bad file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.directory.files import read_directory_files
from bot.directory.headers import TABLES, norm_key, vocabulary
from bot.directory.problems import MAX_PROBLEMS, DirectoryFileError, describe_source
from bot.directory.rows import DirectoryData
from tests.fixtures.make_directory_sample import build as build_sample_xlsx

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = ROOT / "data" / "directory"
SAMPLE_XLSX = ROOT / "tests" / "fixtures" / "directory_sample.xlsx"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    """Write a text file into tmp_path and return its path."""
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def fail(paths: list[Path]) -> DirectoryFileError:
    """Read `paths`, expecting a DirectoryFileError, and return it."""
    with pytest.raises(DirectoryFileError) as caught:
        read_directory_files(paths)
    return caught.value


def without_source(rows: list) -> list:  # type: ignore[type-arg]
    """Drop the `source` of each row so rows from different files compare equal."""
    return [row.model_copy(update={"source": ""}) for row in rows]


# ----------------------------------------------------------------- sample data


def read_sample() -> DirectoryData:
    return read_directory_files(sorted(SAMPLE_DIR.glob("*.csv")))


def test_sample_csvs_read_cleanly_with_expected_counts() -> None:
    data = read_sample()
    assert (len(data.districts), len(data.schools), len(data.institutions),
            len(data.supervisors), len(data.staff)) == (6, 40, 25, 15, 3)
    assert data.warnings == []


def test_sample_assignments_cover_every_school_and_district() -> None:
    data = read_sample()
    roles = {s.code: s.role for s in data.supervisors}
    assert Counter(roles.values()) == {"responsible": 12, "tutoring": 3}
    per_supervisor = Counter(s.supervisor_code or "" for s in data.schools)
    assert all(roles[code] == "responsible" for code in per_supervisor)
    assert sorted(per_supervisor.values()) == [3] * 8 + [4] * 4
    assert all(roles[d.tutoring_supervisor_code or ""] == "tutoring" for d in data.districts)
    liaised = [i for i in data.institutions if i.supervisor_code]
    assert 20 <= len(liaised) < len(data.institutions)
    assert {i.licensed for i in data.institutions} == {True, False}
    assert {i.kind for i in data.institutions} == {"学科类", "非学科类", "托管", "其他"}
    assert {s.stage for s in data.schools} >= {"小学", "初中", "九年一贯制"}
    first = next(s for s in data.schools if s.name == "青溪县城关第一小学")
    assert first.aliases == ("城关一小", "一小")
    assert first.source == "schools.csv:2"


def test_sample_xlsx_holds_the_same_directory_as_the_csvs() -> None:
    csv_data, xlsx_data = read_sample(), read_directory_files([SAMPLE_XLSX])
    for table in ("districts", "schools", "institutions", "supervisors", "staff"):
        assert without_source(getattr(xlsx_data, table)) == without_source(getattr(csv_data, table))
    # the title row above the schools header keeps real spreadsheet row numbers
    assert xlsx_data.schools[0].source == "directory_sample.xlsx[学校]:3"
    assert describe_source(xlsx_data.schools[0].source) == "directory_sample.xlsx 工作表“学校”第3行"
    keys = {w.key for w in xlsx_data.warnings}
    assert keys == {"directory.warning.skipped_sheet", "directory.warning.title_row"}


def test_fixture_generator_reproduces_the_committed_workbook(tmp_path: Path) -> None:
    fresh = build_sample_xlsx(tmp_path / "directory_sample.xlsx")
    assert without_source(read_directory_files([fresh]).schools) == without_source(
        read_directory_files([SAMPLE_XLSX]).schools)


# --------------------------------------------------------------- good formats


SCHOOLS_EN = (
    "code,name,district_code,stage,aliases,supervisor_code\n"
    "S1,青溪县城关第一小学,CG,小学,城关一小|一小,DX01\n"
)
DISTRICTS_EN = "code,name,kind,tutoring_supervisor_code\nCG,城关镇,乡镇,DX13\n"
SUPERVISORS_EN = (
    "code,name,phone,role\n"
    "DX01,王建国,13800000001,责任督学\n"
    "DX13,胡国平,13800000013,校外培训监管督学\n"
)


def test_english_headers_and_cross_references(tmp_path: Path) -> None:
    paths = [write(tmp_path, "schools.csv", SCHOOLS_EN),
             write(tmp_path, "districts.csv", DISTRICTS_EN),
             write(tmp_path, "supervisors.csv", SUPERVISORS_EN)]
    data = read_directory_files(paths)
    school = data.schools[0]
    assert (school.code, school.district_code, school.stage, school.supervisor_code) == (
        "S1", "CG", "小学", "DX01")
    assert data.supervisors[1].role == "tutoring"
    assert data.districts[0].tutoring_supervisor_code == "DX13"


def test_chinese_headers_and_names_instead_of_codes(tmp_path: Path) -> None:
    districts = write(tmp_path, "区县.csv", "代码,名称,类型\nCG,城关镇,镇\n")
    people = write(tmp_path, "督学.csv",
                   "督学代码,姓名,手机,角色\nDX01,王建国,13800000001,责任督学\n")
    schools = write(tmp_path, "青溪县学校名单.csv",
                    "学校代码, 学校名称 ,所属乡镇,学段,简称,责任督学\n"
                    "S1,青溪县实验小学,城关镇,小学,实小,王建国\n")
    data = read_directory_files([districts, people, schools])
    assert data.districts[0].kind == "乡镇"
    school = data.schools[0]
    assert (school.name, school.district_code, school.supervisor_code) == (
        "青溪县实验小学", "CG", "DX01")
    assert school.aliases == ("实小",)
    assert {w.key for w in data.warnings} == {"directory.warning.resolved_by_name"}


def test_gb18030_csv_saved_by_excel(tmp_path: Path) -> None:
    text = "机构代码,机构名称,是否持证,类型\r\nJ1,青溪县启明星文化培训学校,是,学科类\r\n"
    data = read_directory_files([write(tmp_path, "培训机构.csv", text, "gb18030")])
    row = data.institutions[0]
    assert (row.name, row.licensed, row.kind) == ("青溪县启明星文化培训学校", True, "学科类")


def test_utf8_bom_and_fullwidth_text_are_normalised(tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    path.write_bytes("\ufeffcode,name,phone\n ＤＤＳ01 ,林\u200b晓琳,１３９０００００００１\n"
                     .encode())
    staff = read_directory_files([path]).staff[0]
    assert (staff.code, staff.name, staff.phone) == ("DDS01", "林晓琳", "13900000001")


def test_utf16_tab_separated_unicode_text(tmp_path: Path) -> None:
    path = tmp_path / "staff.txt"
    path.write_bytes("code\tname\nDDS01\t高雪\n".encode("utf-16"))
    assert read_directory_files([path]).staff[0].name == "高雪"


def test_aliases_are_split_deduplicated_and_exclude_the_name(tmp_path: Path) -> None:
    text = ("code,name,aliases\n"
            "S1,青溪县城关第一小学,\"城关一小、一小；城关一小| 青溪县城关第一小学 ||一小,\"\n"
            "S2,青溪县第二中学,\n")
    schools = read_directory_files([write(tmp_path, "schools.csv", text)]).schools
    assert schools[0].aliases == ("城关一小", "一小")
    assert schools[1].aliases == ()


def test_absent_optional_columns_are_none_and_empty_cells_empty(tmp_path: Path) -> None:
    text = "code,name,licensed,supervisor_code\nJ1,阳光午托班,,\n"
    row = read_directory_files([write(tmp_path, "institutions.csv", text)]).institutions[0]
    assert (row.district_code, row.kind, row.aliases) == (None, None, None)
    assert (row.licensed, row.supervisor_code) == (None, "")


@pytest.mark.parametrize(("text", "expected"), [
    ("是", True), ("否", False), ("TRUE", True), ("false", False), ("1", True), ("0", False),
    ("Y", True), ("n", False),
])
def test_licensed_accepts_usual_spellings(tmp_path: Path, text: str, expected: bool) -> None:
    path = write(tmp_path, "institutions.csv", f"code,name,licensed\nJ1,睿思一对一辅导,{text}\n")
    assert read_directory_files([path]).institutions[0].licensed is expected


def test_xlsx_with_several_sheets_and_excel_typed_cells(tmp_path: Path) -> None:
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    first.title = "Sheet1"  # no telling name: recognised by its headers
    first.append(["code", "name", "phone", "role"])
    first.append(["DX01", "王建国", 13800000001, "责任督学"])
    schools = workbook.create_sheet("学校")
    schools.append(["代码", "名称", "别名", "督学代码"])
    schools.append([1001, "青溪县实验小学", "实小", "DX01"])
    schools.append([None, None, None, None])
    schools.append([1002.0, "青溪县第二中学", "二中", "DX01"])
    workbook.create_sheet("空白")
    path = tmp_path / "directory.xlsx"
    workbook.save(path)
    data = read_directory_files([path])
    assert data.supervisors[0].phone == "13800000001"
    assert [(s.code, s.source) for s in data.schools] == [
        ("1001", "directory.xlsx[学校]:2"), ("1002", "directory.xlsx[学校]:4")]
    assert [w.source for w in data.warnings] == ["directory.xlsx[空白]"]


def test_empty_rows_are_skipped_and_row_numbers_kept(tmp_path: Path) -> None:
    text = "code,name\n\n,,\nS1,青溪县实验小学\n\"S2\",\"青溪县\n第二中学\"\nS3,青溪县第三中学\n"
    schools = read_directory_files([write(tmp_path, "schools.csv", text)]).schools
    assert [(s.code, s.source) for s in schools] == [
        ("S1", "schools.csv:4"), ("S2", "schools.csv:5"), ("S3", "schools.csv:6")]
    assert schools[1].name == "青溪县 第二中学"


def test_unknown_columns_are_ignored_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "staff.csv", "code,name,备注,邮箱\nDDS01,高雪,负责分办,a@b.cn\n")
    data = read_directory_files([path])
    assert data.staff[0].name == "高雪"
    assert [w.render() for w in data.warnings] == [
        "staff.csv 第1行：已忽略无法识别的列：备注、邮箱"]


def test_references_outside_the_import_are_left_to_the_import(tmp_path: Path) -> None:
    # codes the files do not define are checked against the database by the import service
    school = read_directory_files([write(tmp_path, "schools.csv", SCHOOLS_EN)]).schools[0]
    assert (school.district_code, school.supervisor_code) == ("CG", "DX01")


def test_same_alias_in_different_districts_is_allowed(tmp_path: Path) -> None:
    text = ("code,name,district_code,aliases\n"
            "S1,青溪县石门镇中心小学,SM,中心小学\nS2,青溪县柳塘镇中心小学,LT,中心小学\n")
    assert len(read_directory_files([write(tmp_path, "schools.csv", text)]).schools) == 2


# ------------------------------------------------------------------ bad files


def test_missing_required_column(tmp_path: Path) -> None:
    error = fail([write(tmp_path, "schools.csv", "code,district_code\nS1,CG\n")])
    assert str(error) == "schools.csv 第1行：缺少必填列“学校名称”（name）"


def test_empty_code_names_file_and_row(tmp_path: Path) -> None:
    text = "code,name\nS1,青溪县实验小学\n,青溪县第二中学\nS3,\n"
    error = fail([write(tmp_path, "schools.csv", text)])
    assert str(error).splitlines() == [
        "schools.csv 第3行 “学校代码”列：不能为空", "schools.csv 第4行 “学校名称”列：不能为空"]


def test_duplicate_code_across_files(tmp_path: Path) -> None:
    first = write(tmp_path, "supervisors.csv", SUPERVISORS_EN)
    second = write(tmp_path, "staff.csv", "code,name\nDX01,林晓琳\n")
    error = fail([first, second])
    assert str(error) == ("staff.csv 第2行 “工作人员代码”列：“DX01”重复，"
                          "supervisors.csv 第2行已经用过")


def test_bad_licensed_value(tmp_path: Path) -> None:
    path = write(tmp_path, "institutions.csv", "code,name,licensed\nJ1,阳光午托班,也许\n")
    assert str(fail([path])) == "institutions.csv 第2行 “是否持证”列：“也许”无效，应填：是、否"


def test_unknown_role(tmp_path: Path) -> None:
    path = write(tmp_path, "督学.csv", "代码,姓名,角色\nDX01,王建国,校长\n")
    assert str(fail([path])) == (
        "督学.csv 第2行 “督学类别”列：“校长”无效，应填：责任督学、校外培训监管督学")


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "schools.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert str(fail([path])) == "schools.csv：不是 CSV 或 XLSX 表格文件，内容无法识别"


def test_garbage_named_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "directory.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    assert str(fail([path])) == "directory.xlsx：不是 CSV 或 XLSX 表格文件，内容无法识别"


@pytest.mark.parametrize("content", [b"", b" \r\n\r\n", b"\xef\xbb\xbf"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "schools.csv"
    path.write_bytes(content)
    assert str(fail([path])) == "schools.csv：文件是空的，没有表头行"


def test_unknown_table(tmp_path: Path) -> None:
    # code and name fit schools and institutions alike: the reader refuses to guess
    error = fail([write(tmp_path, "export.csv", "code,name\nX1,青溪县实验小学\n")])
    assert str(error).startswith("export.csv 第1行：无法判断这是哪一张表")


def test_unsupported_and_old_excel_files(tmp_path: Path) -> None:
    old = tmp_path / "schools.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    error = fail([old, write(tmp_path, "schools.docx", "x"), tmp_path / "missing.csv"])
    assert [p.key for p in error.problems] == [
        "directory.error.old_excel", "directory.error.unsupported_type",
        "directory.error.not_found"]


def test_a_mistyped_path_is_not_found_whatever_its_name(tmp_path: Path) -> None:
    error = fail([tmp_path / "nonexist", tmp_path / "data" / "directory"])
    assert [p.key for p in error.problems] == ["directory.error.not_found"] * 2
    assert str(tmp_path / "nonexist") in str(error)  # the whole path, to see the mistake


def test_damaged_utf8_names_the_line(tmp_path: Path) -> None:
    good = "code,name\nS1,青溪县实验小学\nS2,青溪县第二中学\n".encode()
    damaged = good.replace("第二".encode(), b"\xe7\xac")  # a character cut in half
    path = tmp_path / "schools.csv"
    path.write_bytes(damaged)
    assert str(fail([path])).startswith("schools.csv 第3行：这一行有无法识别的字符")


def test_unquoted_comma_shifts_cells(tmp_path: Path) -> None:
    text = "code,name,licensed\nJ1,青溪县飞羽体育培训,有限公司,是\n"
    error = fail([write(tmp_path, "institutions.csv", text)])
    assert error.problems[0].source == "institutions.csv:2"
    assert error.problems[0].key == "directory.error.extra_cells"


def test_bad_code_and_too_long_name(tmp_path: Path) -> None:
    text = f"code,name\n城关一小,青溪县实验小学\nS2,{'长' * 101}\n{'A' * 33},青溪县第三中学\n"
    error = fail([write(tmp_path, "schools.csv", text)])
    assert [p.key for p in error.problems] == [
        "directory.error.bad_code", "directory.error.too_long", "directory.error.bad_code"]
    assert "“学校代码”列：“城关一小”格式不对" in str(error)


def test_ambiguous_alias_within_a_district(tmp_path: Path) -> None:
    text = ("code,name,district_code,aliases\n"
            "S1,青溪县城关第一小学,CG,一小\nS2,青溪县第一中学,CG,一中|一小\n")
    error = fail([write(tmp_path, "schools.csv", text)])
    assert str(error) == (
        "schools.csv 第3行：名称或别名“一小”在CG中重复（schools.csv 第2行），导入后无法区分")


def test_supervisor_of_the_wrong_role(tmp_path: Path) -> None:
    schools = write(tmp_path, "schools.csv", "code,name,supervisor_code\nS1,青溪县实验小学,DX13\n")
    error = fail([schools, write(tmp_path, "supervisors.csv", SUPERVISORS_EN)])
    assert str(error) == (
        "schools.csv 第2行 “责任督学代码”列：“DX13”是校外培训监管督学，这里需要责任督学")


def test_reference_name_not_in_import(tmp_path: Path) -> None:
    path = write(tmp_path, "schools.csv", "code,name,所属区县\nS1,青溪县实验小学,城关镇\n")
    assert str(fail([path])) == (
        "schools.csv 第2行 “所属区县代码”列：“城关镇”既不是代码，也不是本次导入的区县/乡镇名称")


def test_problems_are_capped_and_counted(tmp_path: Path) -> None:
    rows = "".join(f",学校{i}\n" for i in range(80))
    error = fail([write(tmp_path, "schools.csv", "code,name\n" + rows)])
    assert len(error.problems) == MAX_PROBLEMS
    assert error.total == 80
    assert str(error).splitlines()[-1] == "……共发现 80 个问题，以上只列出前 50 个。"


def test_all_files_are_checked_before_failing(tmp_path: Path) -> None:
    good = write(tmp_path, "districts.csv", DISTRICTS_EN)
    bad_staff = write(tmp_path, "staff.csv", "code,name,phone\nDDS01,高雪,call me\n")
    bad_schools = write(tmp_path, "schools.csv", "name\n青溪县实验小学\n")
    error = fail([good, bad_staff, bad_schools])
    assert [p.source for p in error.problems] == ["staff.csv:2", "schools.csv:1"]


def test_no_files() -> None:
    assert str(fail([])) == "没有指定要导入的文件。"


def test_data_under_a_column_without_header_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "staff.csv", "code,,name\nDDS01,备用,高雪\nDDS02,,何建华\n")
    data = read_directory_files([path])
    assert [s.name for s in data.staff] == ["高雪", "何建华"]
    assert [w.render() for w in data.warnings] == ["staff.csv：第 B 列没有表头，其中的数据已忽略"]


def test_xlsx_notes_right_of_the_header_are_a_warning_not_an_error(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "工作人员"
    sheet.append(["代码", "姓名"])
    sheet.append(["DDS01", "高雪", None, "临时借调"])
    path = tmp_path / "staff.xlsx"
    workbook.save(path)
    data = read_directory_files([path])
    assert data.staff[0].code == "DDS01"
    assert [w.render() for w in data.warnings] == [
        "staff.xlsx 工作表“工作人员”：第 D 列没有表头，其中的数据已忽略"]


def test_the_same_file_given_twice_is_a_duplicate(tmp_path: Path) -> None:
    path = write(tmp_path, "schools.csv", "code,name,aliases\nS1,青溪县实验小学,实小\n")
    error = fail([path, path])
    assert [p.key for p in error.problems] == [
        "directory.error.duplicate_code", "directory.error.ambiguous_name",
        "directory.error.ambiguous_name"]


def test_every_table_in_the_vocabulary_names_its_required_columns() -> None:
    words = vocabulary()
    for table in TABLES:
        spec = words.specs[table]
        assert all(spec.field_for(norm_key(field)) == field for field in spec.required)
    assert words.values["licensed"].canonical("ＹＥＳ") == "true"


def test_the_directory_readme_says_what_a_left_out_column_and_an_empty_cell_do(
        tmp_path: Path) -> None:
    readme = (SAMPLE_DIR / "README.md").read_text(encoding="utf-8")
    assert "resets" not in readme  # it used to say the opposite of what the import does
    assert "a left-out optional column keeps" in readme and "an empty cell clears" in readme
    # The README's example error is word for word what the reader says.
    rows = "".join(f"S{i},学校{i}\n" for i in range(2, 12))
    error = fail([write(tmp_path, "schools.csv", f"code,name\n{rows},无代码的学校\n")])
    assert str(error) == "schools.csv 第12行 “学校代码”列：不能为空"
    assert f"`{error}`" in readme
