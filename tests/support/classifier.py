"""A small synthetic corpus in the corpus layout, for training tests."""

from __future__ import annotations

import random
from pathlib import Path

from classifier import CATEGORIES

SUBJECTS = ("孩子", "我家小孩", "女儿", "儿子", "我们班的学生")
SCHOOLS = ("城关一小", "育才中学", "实验小学", "第二中学", "向阳小学")
# Phrases typical of each label; a tip is a subject, a school and one or two phrases.
PHRASES: dict[str, tuple[str, ...]] = {
    "homework_burden": ("每天作业写到晚上十一点", "作业太多写不完", "老师让家长批改作业",
                        "罚抄课文二十遍", "周末作业量特别大", "作业要家长签字打卡"),
    "unlicensed_tutoring": ("周末有机构偷偷上数学课", "无证培训班在小区里上课",
                            "寒假开了学科类培训", "以托管名义上英语课", "培训机构超前超纲教学",
                            "一对一私教在民房里上课"),
    "fees_refund": ("培训机构不退费", "预收了一年学费", "机构跑路了钱要不回来",
                    "退款拖了三个月", "课时费乱收费", "交的押金不退"),
    "teacher_paid_tutoring": ("班主任在家有偿补课", "数学老师让学生去他家补课",
                              "老师推销教辅资料", "在职教师周末收费辅导",
                              "老师暗示不补课就不管", "英语老师开补习班"),
    "after_school_service": ("课后服务强制参加", "课后服务收费太高", "课后服务讲新课",
                             "课后服务就是看自习", "学校不提供课后服务", "延时服务不去要写说明"),
    "other": ("考试成绩公开排名", "食堂饭菜不卫生", "校园欺凌没人管", "学校收手机不还",
              "体育课被占用", "校车超载很危险"),
}


def _tips(label: str, count: int, rng: random.Random) -> list[str]:
    """Compose `count` distinct tips for `label`."""
    tips: set[str] = set()
    while len(tips) < count:
        first, second = rng.sample(PHRASES[label], 2)
        tips.add(f"{rng.choice(SUBJECTS)}在{rng.choice(SCHOOLS)}，{first}，{second}")
    return sorted(tips)


def write_corpus(root: Path, train: int = 24, heldout: int = 8, seed: int = 1) -> Path:
    """Write a small synthetic corpus in the corpus layout and return its directory."""
    rng = random.Random(seed)
    for split in ("train", "heldout"):
        (root / split).mkdir(parents=True, exist_ok=True)
    for label in CATEGORIES:
        tips = _tips(label, train + heldout, rng)
        (root / "train" / f"{label}.txt").write_text("\n".join(tips[heldout:]) + "\n", "utf-8")
        (root / "heldout" / f"{label}.txt").write_text("\n".join(tips[:heldout]) + "\n", "utf-8")
    return root
