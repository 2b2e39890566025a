"""Draw the chat screenshots used by docs/guide-*.md from a real run of the bot.

Run from the repository root:

    .venv/bin/python docs/screenshots/make_screenshots.py [--out docs/screenshots]

It starts the real python-telegram-bot Application (the same harness as the end-to-end
tests, tests/support/e2e.py) against the local Bot API server in localapi/, on a fresh
SQLite database with the sample directory (data/directory) and the shipped classifier. A
scripted conversation is played by a parent, a supervisor (DX01) and a staff member (DDS01);
every scene is drawn from the messages the bot really sent, with Pillow and the Chinese font
/usr/share/fonts/truetype/wqy/wqy-microhei.ttc (Debian's fonts-wqy-microhei). The bot's clock
is Monday 23 November 2026, 10:00 in Shanghai, so no quiet hours interfere. Nothing reaches
the internet.

What is drawn beyond the bot's own messages: a grey note "点按「…」" where the user tapped a
button, and a dark note for a pop-up alert. The only changes to the bot's text are ✅ drawn as
✔ and ⬜ as □ (the installed fonts have no colour emoji).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from fontTools.ttLib import TTCollection, TTFont  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
FALLBACK_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SUBSTITUTE = {"✅": "✔", "⬜": "□", "\ufe0f": ""}
NO_LINE_START = set("，。、；：？！）」”’%,.;:?!)")

WIDTH = 760
PAD = 18
BUBBLE_MAX = 560
TEXT_SIZE = 21
SMALL_SIZE = 17
LINE = 30
BG = (214, 226, 234)
BOT_BUBBLE = (255, 255, 255)
USER_BUBBLE = (225, 247, 203)
BUTTON = (236, 242, 247)
BUTTON_TEXT = (40, 110, 170)
NOTE = (170, 185, 196)
ALERT = (60, 64, 70)
HEADER = (81, 125, 162)
INK = (20, 20, 20)
QUIET = 0.6  # seconds without a new bot message after which a step is taken as answered


class Fonts:
    """The CJK font, with DejaVu Sans for the symbols it lacks."""

    def __init__(self) -> None:
        self.cjk_chars = set(TTCollection(CJK_FONT).fonts[0].getBestCmap())
        self.fallback_chars = set(TTFont(FALLBACK_FONT).getBestCmap())
        self.sizes: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}

    def font(self, char: str, size: int) -> ImageFont.FreeTypeFont:
        path = CJK_FONT
        if ord(char) not in self.cjk_chars and ord(char) in self.fallback_chars:
            path = FALLBACK_FONT
        key = (path, size)
        if key not in self.sizes:
            self.sizes[key] = ImageFont.truetype(path, size)
        return self.sizes[key]

    def width(self, text: str, size: int) -> float:
        return sum(self.font(c, size).getlength(c) for c in text)

    def draw(self, draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int,
             fill: tuple[int, int, int]) -> None:
        x, y = xy
        for char in text:
            font = self.font(char, size)
            draw.text((x, y), char, font=font, fill=fill)
            x += font.getlength(char)

    def wrap(self, text: str, size: int, width: float) -> list[str]:
        lines: list[str] = []
        for paragraph in clean(text).split("\n"):
            line = ""
            for char in paragraph:
                if (line and self.width(line + char, size) > width
                        and char not in NO_LINE_START):
                    lines.append(line)
                    line = ""
                line += char
            lines.append(line)
        return lines


def clean(text: str) -> str:
    for old, new in SUBSTITUTE.items():
        text = text.replace(old, new)
    return text


# --- what a scene holds -------------------------------------------------------------------

@dataclass
class Item:
    kind: str  # "bot", "user", "note", "alert"
    text: str = ""
    buttons: list[list[str]] = field(default_factory=list)
    image: bytes | None = None
    document: str | None = None


@dataclass
class Scene:
    name: str
    title: str
    items: list[Item] = field(default_factory=list)


def items_from_chat(chat: Any, after_id: int, notes: dict[int, list[Item]],
                    download: Callable[[str], bytes]) -> list[Item]:
    """The messages of `chat` newer than `after_id`, as they are now, with notes between."""
    items: list[Item] = []
    for message_id in sorted(chat.messages):
        message = chat.messages[message_id]
        if message_id <= after_id or message.deleted:
            continue
        if not message.from_bot:
            content = message.content
            if "contact" in content:
                text = f"📱 {content['contact'].get('phone_number', '')}"
            elif "photo" in content:
                text = "[照片] " + (content.get("caption") or "")
            else:
                text = message.text or ""
            items.append(Item("user", text))
        else:
            item = Item("bot", message.text or "", buttons=[
                [str(b.get("text", "")) for b in row] for row in message.inline_keyboard])
            if "photo" in message.content:
                item.image = download(message.content["photo"][-1]["file_id"])
            if "document" in message.content:
                item.document = message.content["document"].get("file_name", "file")
            items.append(item)
        items.extend(notes.get(message_id, []))
    return items


# --- drawing ------------------------------------------------------------------------------

def measure(fonts: Fonts, item: Item) -> tuple[int, int, list[str]]:
    """Return (bubble width, height, wrapped lines) of one item."""
    if item.kind in ("note", "alert"):
        lines = fonts.wrap(item.text, SMALL_SIZE, BUBBLE_MAX - 40)
        width = max(fonts.width(line, SMALL_SIZE) for line in lines) + 32
        return int(width), 14 + 24 * len(lines), lines
    lines = fonts.wrap(item.text, TEXT_SIZE, BUBBLE_MAX - 60) if item.text else []
    width = max([fonts.width(line, TEXT_SIZE) for line in lines] or [0]) + 32
    height = 20 + LINE * len(lines)
    if item.image is not None:
        width = BUBBLE_MAX
        with Image.open(io.BytesIO(item.image)) as image:
            height += int(image.height * (BUBBLE_MAX - 20) / image.width) + 10
    if item.document is not None:
        width = max(width, 20 + fonts.width(item.document, SMALL_SIZE) + 90)
        height += 64
    if item.buttons:
        width = max(width, 440)
        height += 50 * len(item.buttons)
    return int(min(width, BUBBLE_MAX)), height, lines


def render(fonts: Fonts, scene: Scene, path: Path) -> None:
    heights = [measure(fonts, item)[1] + 12 for item in scene.items]
    header = 64
    total = header + PAD + sum(heights) + PAD
    canvas = Image.new("RGB", (WIDTH, total), BG)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, WIDTH, header), fill=HEADER)
    fonts.draw(draw, (PAD, 17), scene.title, 24, (255, 255, 255))
    y = header + PAD
    for item in scene.items:
        width, height, lines = measure(fonts, item)
        if item.kind in ("note", "alert"):
            x = (WIDTH - width) // 2
            colour = NOTE if item.kind == "note" else ALERT
            draw.rounded_rectangle((x, y, x + width, y + height), 14, fill=colour)
            for n, line in enumerate(lines):
                fonts.draw(draw, (x + 16, y + 6 + 24 * n), line, SMALL_SIZE, (255, 255, 255))
            y += height + 12
            continue
        keyboard = 50 * len(item.buttons)
        bubble_h = height - keyboard
        x = PAD if item.kind == "bot" else WIDTH - PAD - width
        fill = BOT_BUBBLE if item.kind == "bot" else USER_BUBBLE
        draw.rounded_rectangle((x, y, x + width, y + bubble_h), 14, fill=fill)
        inner = y + 10
        if item.image is not None:
            with Image.open(io.BytesIO(item.image)) as image:
                scaled = image.convert("RGB").resize(
                    (width - 20, int(image.height * (width - 20) / image.width)))
            canvas.paste(scaled, (x + 10, inner))
            inner += scaled.height + 10
        if item.document is not None:
            draw.rounded_rectangle((x + 14, inner + 4, x + 64, inner + 54), 10, fill=HEADER)
            fonts.draw(draw, (x + 24, inner + 15), "XLS", SMALL_SIZE, (255, 255, 255))
            fonts.draw(draw, (x + 78, inner + 17), item.document, SMALL_SIZE, INK)
            inner += 64
        for n, line in enumerate(lines):
            fonts.draw(draw, (x + 16, inner + LINE * n), line, TEXT_SIZE, INK)
        ky = y + bubble_h + 6
        for row in item.buttons:
            cell = (width - 6 * (len(row) - 1)) / len(row)
            for n, label in enumerate(row):
                bx = x + n * (cell + 6)
                draw.rounded_rectangle((bx, ky, bx + cell, ky + 44), 10, fill=BUTTON)
                shown = clean(label)
                while fonts.width(shown, SMALL_SIZE) > cell - 12 and len(shown) > 2:
                    shown = shown[:-2] + "…"
                tx = bx + (cell - fonts.width(shown, SMALL_SIZE)) / 2
                fonts.draw(draw, (tx, ky + 11), shown, SMALL_SIZE, BUTTON_TEXT)
            ky += 50
        y += height + 12
    canvas.save(path, optimize=True)


# --- the scripted conversation ------------------------------------------------------------

class Recorder:
    """Plays users against the running bot and cuts the chats into scenes."""

    def __init__(self, dudao: Any) -> None:
        self.dudao = dudao
        self.notes: dict[int, dict[int, list[Item]]] = {}
        self.scenes: list[Scene] = []
        self.marks: dict[str, tuple[Any, int]] = {}

    async def quiet(self, user: Any, before: int, *, wait: float = 8.0) -> None:
        """Wait for the bot's answer to a step, then until it has been quiet for a moment."""
        chat = user._chat
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while len(chat.events) == before and loop.time() < deadline:
            await asyncio.sleep(0.05)
        seen = -1
        while seen != len(chat.events) + len(chat.callback_answers):
            seen = len(chat.events) + len(chat.callback_answers)
            await self.dudao.deliver()
            await asyncio.sleep(QUIET)

    async def say(self, user: Any, text: str) -> None:
        before = len(user._chat.events)
        await user.send_text(text)
        await self.quiet(user, before)

    async def share_contact(self, user: Any) -> None:
        before = len(user._chat.events)
        await user.send_contact()
        await self.quiet(user, before)

    async def press(self, user: Any, label: str) -> None:
        chat = user._chat
        before, answers = len(chat.events), len(chat.callback_answers)
        last = max(chat.messages)
        await user.press(label)
        notes = self.notes.setdefault(user.id, {}).setdefault(last, [])
        notes.append(Item("note", f"点按「{label}」"))
        await self.quiet(user, before, wait=3.0)
        for answer in chat.callback_answers[answers:]:
            if answer.text and answer.show_alert:
                notes.append(Item("alert", answer.text))

    def start(self, key: str, user: Any) -> None:
        self.marks[key] = (user, max(user._chat.messages, default=0))

    def cut(self, key: str, name: str, title: str) -> None:
        user, after = self.marks.pop(key)
        items = items_from_chat(user._chat, after, self.notes.get(user.id, {}), user.download)
        self.scenes.append(Scene(name, title, items))


def button_with(user: Any, prefix: str) -> str:
    for message in reversed(user.messages):
        for row in message.inline_keyboard:
            for candidate in row:
                if str(candidate.get("text", "")).startswith(prefix):
                    return str(candidate["text"])
    raise LookupError(prefix)


async def play(dudao: Any) -> list[Scene]:
    rec = Recorder(dudao)
    parent = dudao.user(9001, first_name="张女士")
    supervisor = dudao.user(9101, first_name="王建国")
    staff = dudao.user(9201, first_name="林晓琳")

    # Binding: invite codes as `dudao invite` prints them.
    sup_code, _ = await dudao.container.invites.issue("DX01", "supervisor")
    staff_code, _ = await dudao.container.invites.issue("DDS01", "staff")
    rec.start("sup-bind", supervisor)
    await rec.say(supervisor, f"/bind {sup_code}")
    rec.cut("sup-bind", "supervisor-1-bind", "督学 王建国 · 绑定")
    rec.start("staff-bind", staff)
    await rec.say(staff, f"/bind {staff_code}")
    await rec.say(staff, "/office")
    rec.cut("staff-bind", "staff-1-bind", "督导室 林晓琳 · 绑定与工作台")

    # A parent files a tip.
    rec.start("parent-start", parent)
    await rec.say(parent, "/start")
    rec.cut("parent-start", "parent-1-start", "家长 · /start")
    rec.start("sup-case", supervisor)
    rec.start("parent-file", parent)
    await rec.say(parent, "城关一小三年级数学老师每天布置两个多小时的作业，"
                          "孩子天天写到晚上十一点，还要家长批改签字")
    await rec.press(parent, "匿名提交")
    rec.cut("parent-file", "parent-2-file", "家长 · 反映问题（匿名）")

    # The supervisor hears of it, opens it and accepts it.
    await dudao.deliver()
    await asyncio.sleep(0.5)
    rec.start("parent-rate", parent)
    await rec.say(supervisor, "/cases")
    await rec.press(supervisor, button_with(supervisor, "SJ-"))
    await rec.press(supervisor, "受理")
    rec.cut("sup-case", "supervisor-2-accept", "督学 · 新分派案件、/cases、受理")

    rec.start("staff-approve", staff)
    rec.start("sup-propose", supervisor)
    await rec.press(supervisor, "提出处理意见")
    await rec.press(supervisor, "属实已整改")
    await rec.say(supervisor, "已到校核查，学校已调整三年级数学作业量，每天不超过60分钟")
    rec.cut("sup-propose", "supervisor-3-propose", "督学 · 提出处理意见")

    # Staff approve it.
    await dudao.deliver()
    await asyncio.sleep(0.5)
    await rec.say(staff, "/approvals")
    await rec.press(staff, button_with(staff, "查看"))
    await rec.press(staff, "审核通过")
    rec.cut("staff-approve", "staff-2-approve", "督导室 · /approvals 审核处理意见")

    # The parent hears each step and rates the outcome.
    await dudao.deliver()
    await asyncio.sleep(0.5)
    await rec.press(parent, "满意")
    await rec.press(parent, "跳过")
    await rec.say(parent, "/mycases")
    rec.cut("parent-rate", "parent-3-outcome", "家长 · 进展通知、评价、/mycases")

    # A named tip that names no school: the parent shares a phone, staff triage it.
    rec.start("staff-triage", staff)
    rec.start("parent-named", parent)
    await rec.say(parent, "孩子学校的课后服务要求每个学生都参加，"
                          "每月另外收费三百元，不交就不让参加")
    await rec.press(parent, "不清楚/跳过")  # the bot asks which school: none is named
    await rec.press(parent, "实名提交")
    await rec.press(parent, "不留电话")
    rec.cut("parent-named", "parent-4-named", "家长 · 实名提交、未指明学校")

    await dudao.deliver()
    await asyncio.sleep(0.5)
    await rec.say(staff, "/triage")
    await rec.press(staff, button_with(staff, "查看"))
    await rec.press(staff, button_with(staff, "★"))
    await rec.press(staff, button_with(staff, "王建国"))
    rec.cut("staff-triage", "staff-3-triage", "督导室 · /triage 分办")

    # The supervisor asks the parent a question through the bot, then sets a deadline.
    rec.start("sup-ask", supervisor)
    rec.start("parent-answer", parent)
    await dudao.deliver()
    await rec.say(supervisor, "/cases")
    await rec.press(supervisor, button_with(supervisor, "SJ-"))
    await rec.press(supervisor, "受理")
    await rec.press(supervisor, "请家长补充")
    await rec.say(supervisor, "请问是哪所学校、几年级？")
    await dudao.deliver()
    await asyncio.sleep(0.5)
    await rec.press(parent, "回复督学")
    await rec.say(parent, "城关二小四年级")
    rec.cut("parent-answer", "parent-5-answer", "家长 · 回复督学的问题")
    await dudao.deliver()
    await asyncio.sleep(0.5)
    rec.cut("sup-ask", "supervisor-5-ask", "督学 · 请家长补充")

    rec.start("sup-rectify", supervisor)
    rec.start("staff-verify", staff)
    await rec.press(supervisor, "提出处理意见")
    await rec.press(supervisor, "属实限期整改")
    await rec.press(supervisor, button_with(supervisor, "15天"))
    await rec.say(supervisor, "学校须取消强制参加和额外收费，已收费用全部退还")
    await dudao.deliver()
    await rec.say(staff, "/approvals")
    await rec.press(staff, button_with(staff, "查看"))
    await rec.press(staff, "审核通过")
    await dudao.deliver()
    await asyncio.sleep(0.5)
    await rec.press(supervisor, "报告整改完成")
    await rec.say(supervisor, "学校已发通知取消收费，费用已退还家长")
    rec.cut("sup-rectify", "supervisor-6-rectify", "督学 · 限期整改与报告整改完成")
    await dudao.deliver()
    await asyncio.sleep(0.5)
    rec.start("staff-verify-only", staff)
    await rec.say(staff, "/verify")
    await rec.press(staff, button_with(staff, "查看"))
    await rec.press(staff, "复查通过")
    rec.cut("staff-verify-only", "staff-5-verify", "督导室 · /verify 复查（回头看）")
    rec.marks.pop("staff-verify")

    # Visits and reports.
    rec.start("sup-visit", supervisor)
    await rec.say(supervisor, "/visit")
    await rec.press(supervisor, button_with(supervisor, "青溪县城关第二"))
    await rec.press(supervisor, button_with(supervisor, "今天"))
    await rec.say(supervisor, "检查作业公示和课后服务安排，未发现问题")
    await rec.press(supervisor, "不附照片")
    await rec.say(supervisor, "/visits")
    rec.cut("sup-visit", "supervisor-4-visit", "督学 · /visit 到校督导、/visits")

    rec.start("staff-report", staff)
    await rec.say(staff, "/reports")
    await rec.press(staff, "本半月")
    # The figures, the chart and then the workbook: wait for the last, however long it takes.
    await staff.wait_for_message(lambda m: "document" in m.content, timeout=60)
    await rec.quiet(staff, len(staff._chat.events), wait=0.5)
    rec.cut("staff-report", "staff-4-reports", "督导室 · /reports 半月报")
    return rec.scenes


async def main(out: Path) -> None:
    from classifier import load
    from storage.migrate import upgrade
    from tests.support.e2e import running_dudao

    out.mkdir(parents=True, exist_ok=True)
    fonts = Fonts()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'screens.db'}"
        upgrade(url)
        async with running_dudao(url, load(None)) as dudao:
            scenes = await play(dudao)
    for scene in scenes:
        path = out / f"{scene.name}.png"
        render(fonts, scene, path)
        print(path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    asyncio.run(main(parser.parse_args().out))

