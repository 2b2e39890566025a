"""The one catalogue of user-facing texts (Simplified Chinese).

Every text a parent, supervisor, staff member or admin reads lives here, keyed by a
dotted name; code renders it with `t(key, **params)`. Sections are separated by
comments so each part of the product keeps its texts together.
"""

from __future__ import annotations

CATALOGUE: dict[str, str] = {
    # --- general ---
    "general.internal_error": "系统出现问题，您的信息没有丢失，请稍后再试。",
    # --- categories, statuses, dispositions, ratings ---
    "category.homework_burden": "作业负担",
    "category.unlicensed_tutoring": "违规校外培训",
    "category.fees_refund": "收费退费",
    "category.teacher_paid_tutoring": "在职教师有偿补课",
    "category.after_school_service": "课后服务",
    "category.other": "其他",
    "status.new": "新提交",
    "status.triage": "督导室分办中",
    "status.assigned": "已分派督学",
    "status.accepted": "督学已受理",
    "status.awaiting_info": "等待您补充材料",
    "status.proposed": "处理意见待审核",
    "status.rectifying": "限期整改中",
    "status.rectification_reported": "整改完成待复查",
    "status.closed": "已办结",
    "disposition.unfounded": "不属实",
    "disposition.fixed": "属实已整改",
    "disposition.rectify": "属实限期整改",
    "disposition.transferred": "转办",
    "disposition.needs_info": "需补充材料",
    "rating.satisfied": "满意",
    "rating.basically_satisfied": "基本满意",
    "rating.dissatisfied": "不满意",
    "role.responsible": "责任督学",
    "role.tutoring": "校外培训监管督学",
    "role.staff": "督导室工作人员",
    "role.triage": "督导室（分办）",
    # --- case rules (domain errors) ---
    "case.error.wrong_status": "案件 {reference} 当前状态为“{status_name}”，不能进行此操作。",
    "case.error.staff_only": "只有督导室工作人员可以进行此操作。",
    "case.error.not_assignee": "此案件不是分派给您的，不能操作。",
    "case.error.not_reporter": "只有提交此线索的家长可以进行此操作。",
    "case.error.not_found": "没有找到编号为 {reference} 的案件，请核对编号。",
    "case.error.bad_reference": "案件编号格式不对，应类似 SJ-2026-000123。",
    "case.error.unknown_category": "未知的问题类别：{category}。",
    "case.error.empty_text": "内容不能为空，请用文字描述情况。",
    "case.error.no_assignee": "请选择承办督学。",
    "case.error.comment_required": "请填写说明或理由。",
    "case.error.deadline_in_past": "整改期限必须晚于今天。",
    "case.error.deadline_not_allowed": "只有“属实限期整改”需要设置整改期限。",
    "case.error.extension_not_later": "延期后的期限必须晚于原期限。",
    "case.error.transfer_target_required": "转办需要写明接收部门。",
    "case.error.bad_disposition": "请从给出的处理意见中选择。",
    "case.error.closed": "案件 {reference} 已办结，不能再修改。",
    "case.error.already_rated": "案件 {reference} 已经评价过了，感谢您的反馈。",
    "case.error.reopen_needs_dissatisfied": "只有评价为“不满意”的案件才能申请重新办理。",
    "case.error.reopen_once": "每个案件只能重新办理一次。",
    "case.error.unknown_person": "目录中没有代码为 {code} 的人员。",
    "case.error.person_role": "{code} 不是督学，不能承办案件。",
    "tip.error.rate_limited": "您在一小时内已提交 {limit} 条线索，请稍后再提交。紧急情况请拨打当地教育局电话。",
    # --- invites and binding ---
    "invite.error.unknown_person": "目录中没有代码为 {code} 的{role_name}，请先导入目录。",
    "invite.error.invalid": "邀请码无效、已过期或已被使用，请向督导室索取新的邀请码。",
    "invite.bound": "绑定成功：{name}（{role_name}）。",
    "invite.already_bound": "此 Telegram 账号已绑定为 {name}，如需更换请联系督导室。",
    # --- notifications ---
    "notify.supervisor.assigned": "新分派案件 {reference}（{category}）\n线索内容：{text}\n请在1个工作日内受理。",
    "notify.supervisor.assigned_by_staff": "督导室将案件 {reference} 分派给您，请及时受理。",
    "notify.supervisor.proposal_rejected": "案件 {reference} 的处理意见被督导室退回，请查看意见后重新提出。",
    "notify.supervisor.verification_failed": "案件 {reference} 复查未通过，已重新设定整改期限。",
    "notify.supervisor.info_added": "案件 {reference} 的家长补充了信息，请查看。",
    "notify.supervisor.supervised": "案件 {reference} 已超期，督导室已发出督办，请尽快办理。",
    "notify.supervisor.reopened": "案件 {reference} 家长不满意并申请重新办理，请再次处理。",
    "notify.staff.triage": "有新线索待分办：{reference}（{category}）。",
    "notify.staff.proposed": "案件 {reference} 有处理意见待审核。",
    "notify.staff.rectification_reported": "案件 {reference} 已报告整改完成，请复查（回头看）。",
    "notify.staff.handed_back": "案件 {reference} 被督学退回分办，请重新分派。",
    "notify.parent.accepted": "您反映的问题（编号 {reference}）已由督学受理，正在核查。",
    "notify.parent.approved": "您反映的问题（编号 {reference}）已有处理结果，当前状态：{status_name}。",
    "notify.parent.closed": "您反映的问题（编号 {reference}）已办结。请对处理结果进行评价。",
    "notify.parent.info_requested": "关于您反映的问题（编号 {reference}），督学需要您补充一些信息。",
    "notify.parent.extended": "您反映的问题（编号 {reference}）整改期限已经督导室批准延期。",
    # --- directory import (database side) ---
    "dirimport.report_line": "{table}：新增 {added}，更新 {changed}，未变 {unchanged}",
    "dirimport.table.people": "人员（督学和工作人员）",
    "dirimport.table.districts": "区县/乡镇",
    "dirimport.table.schools": "学校",
    "dirimport.table.institutions": "校外培训机构",
    "dirimport.unknown_supervisor": "{source}：督学代码 {code} 不在目录中，或角色不符（学校需责任督学，区县需校外培训监管督学）",
    "dirimport.unknown_district": "{source}：区县代码 {code} 不在目录中，请先导入区县表",
    "dirimport.nothing_changed": "导入失败，目录未做任何修改。请修正以下问题后重新导入：",
    "dirimport.done": "目录导入完成：",
    # --- command line (admin) ---
    "cli.config_error": "配置有误，无法启动：\n{error}\n请按 config.example.toml 修改配置文件或环境变量后重试。",
    "cli.migrated": "数据库已是最新结构：{url}",
    "cli.import.no_files": "没有找到要导入的 CSV 或 XLSX 文件，请给出文件或文件夹路径。",
    "cli.import.reading": "正在读取 {count} 个目录文件……",
    "cli.invite.issued": "邀请码：{code}\n人员：{person}\n有效期至：{expires}（一次性）\n请让对方在机器人中发送 /bind {code}",
    "cli.train.corrections": "已从数据库读取 {count} 条工作人员更正，作为训练样本加入。",
    "cli.run.no_token": "未配置 Telegram 机器人令牌（telegram.token 或环境变量 DUDAO_TELEGRAM__TOKEN）。",
    "cli.run.ready": "数据库：{url}\n目录：{schools} 所学校，{institutions} 个培训机构，{people} 名人员\n分类模型：{model}（自动分派阈值 {threshold:.2f}）",
    "cli.run.how_to_token": "要连接 Telegram：向 @BotFather 申请令牌，写入配置文件 [telegram] token，或设置环境变量 DUDAO_TELEGRAM__TOKEN，然后运行 dudao run --config 配置文件。",
    "cli.run.starting": "机器人已启动（{mode}），按 Ctrl+C 停止。",
    # --- end of catalogue ---
}


def t(key: str, /, **params: object) -> str:
    """Render the catalogue text `key` with `params` (str.format placeholders)."""
    text = CATALOGUE[key]
    return text.format(**params) if params else text


def explain(key: str, params: dict[str, object]) -> str:
    """Render a domain error (key + params), naming a status in Chinese where one is given."""
    params = dict(params)
    if "status" in params and "status_name" not in params:
        params["status_name"] = CATALOGUE.get(f"status.{params['status']}", str(params["status"]))
    return t(key, **params)
