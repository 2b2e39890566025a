"""Write the shipped DOCX templates (run from the repository root after changing this file).

The templates are ordinary Word documents with docxtpl (Jinja) placeholders: an office edits
them in Word or WPS, keeping the {{ ... }} and {%p ... %} tags, and points
[documents] templates_dir at its own folder. Placeholders each template may use are listed
in docs/operator.md ("Documents").
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt

HERE = Path(__file__).resolve().parent
FONT = "仿宋"


def _document() -> Document:
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(16)
    rpr = style.element.get_or_add_rPr()
    rpr.get_or_add_rFonts().set(
        "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia", FONT)
    return doc


def _centered(doc: Document, text: str, size: int = 22, bold: bool = True) -> None:
    paragraph = doc.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = paragraph.add_run(text)
    run.bold = bold
    run.font.size = Pt(size)


def _right(doc: Document, text: str) -> None:
    paragraph = doc.add_paragraph(text)
    paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT


def _letterhead(doc: Document, title: str) -> None:
    _centered(doc, "{{ office_name }}", 26)
    _centered(doc, title, 22)
    _centered(doc, "{{ number }}", 14, bold=False)


def _signature(doc: Document) -> None:
    doc.add_paragraph()
    _right(doc, "{{ office_name }}")
    _right(doc, "{{ seal }}")
    _right(doc, "{{ issued_on }}")


def rectification_notice() -> Document:
    doc = _letterhead_doc("整改通知书")
    doc.add_paragraph("{{ school }}：")
    doc.add_paragraph("　　本室在办理群众反映事项（案件编号：{{ reference }}，类别：{{ category }}）"
                      "过程中，经责任督学{{ supervisor }}核查，发现你单位存在以下问题：")
    doc.add_paragraph("　　{{ findings }}")
    doc.add_paragraph("　　根据“双减”工作有关规定，现要求你单位：{{ requirement }}")
    doc.add_paragraph("　　请于{{ deadline }}前完成整改，并将整改情况书面报送本室。"
                      "本室将适时组织回头看复查；逾期未整改的，将予以督办。")
    _signature(doc)
    return doc


def supervision_letter() -> Document:
    doc = _letterhead_doc("督办函")
    doc.add_paragraph("{{ school }}：")
    doc.add_paragraph("　　群众反映事项（案件编号：{{ reference }}，类别：{{ category }}）"
                      "经本室核查属实，已要求你单位于{{ deadline }}前整改到位。"
                      "截至{{ supervised_on }}，该事项仍未办结，现予督办。")
    doc.add_paragraph("　　存在的问题：{{ findings }}")
    doc.add_paragraph("　　请你单位高度重视，立即落实整改：{{ requirement }}"
                      "整改完成后三个工作日内将结果书面报送本室，责任督学{{ supervisor }}跟踪落实。")
    _signature(doc)
    return doc


def quarterly_bulletin() -> Document:
    doc = _document()
    _centered(doc, "{{ office_name }}", 26)
    _centered(doc, "关于{{ period }}“双减”督导工作情况的通报", 20)
    doc.add_paragraph("各学校、各校外培训机构：")
    doc.add_paragraph("　　现将{{ period }}（{{ start }}至{{ end }}）群众反映问题办理及督导工作情况通报如下。")
    doc.add_paragraph("　　一、受理情况。本期共受理群众反映问题{{ total }}件{% if merged %}"
                      "（另有{{ merged }}件与已有案件合并办理）{% endif %}，其中：")
    doc.add_paragraph("{%p for name, count in categories %}")
    doc.add_paragraph("　　{{ name }}：{{ count }}件；")
    doc.add_paragraph("{%p endfor %}")
    doc.add_paragraph("　　二、办理时效。按时办理率{{ on_time }}（受理{{ accepted_on_time }}、"
                      "提出意见{{ proposed_on_time }}、审核{{ decided_on_time }}、"
                      "限期整改{{ rectified_on_time }}）；群众满意率{{ satisfied }}。")
    doc.add_paragraph("　　三、到校督导。{{ coverage_detail }}。")
    doc.add_paragraph("　　四、重点指标。到校督导{{ visits }}次，督导发现问题{{ found_by_visits }}；"
                      "群众举报问题{{ found_by_tips }}件；整改完成率{{ rectification_rate }}"
                      "（{{ rectified }}/{{ found_true }}）；检查校外培训机构"
                      "{{ institutions_inspected }}家。")
    doc.add_paragraph("　　督办层级：{{ escalation }}。")
    doc.add_paragraph("　　问题反复出现的学校：{{ repeated_schools }}。")
    doc.add_paragraph("　　五、工作要求。各单位要对照本通报，举一反三、立行立改，"
                      "切实减轻学生过重作业负担和校外培训负担。")
    _signature(doc)
    return doc


def _letterhead_doc(title: str) -> Document:
    doc = _document()
    _letterhead(doc, title)
    return doc


def main() -> None:
    for name, build in (("rectification_notice", rectification_notice),
                        ("supervision_letter", supervision_letter),
                        ("quarterly_bulletin", quarterly_bulletin)):
        build().save(HERE / f"{name}.docx")
        print(f"wrote {name}.docx")


if __name__ == "__main__":
    main()
