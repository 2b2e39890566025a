"""The guides' screenshot tool still plays its whole conversation against the real bot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from tests.support.e2e import Dudao

TOOL = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "make_screenshots.py"


def _tool() -> Any:
    spec = importlib.util.spec_from_file_location("make_screenshots", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def test_the_screenshot_conversation_runs_and_draws_every_committed_scene(
        dudao: Dudao, tmp_path: Path) -> None:
    tool = _tool()
    tool.QUIET = 0.3  # the local server answers within milliseconds; the tool waits longer
    scenes = await tool.play(dudao)
    names = {scene.name for scene in scenes}
    assert names == {p.stem for p in TOOL.parent.glob("*.png")}
    for scene in scenes:
        kinds = {item.kind for item in scene.items}
        assert {"bot", "user"} <= kinds or "note" in kinds, scene.name
    fonts = tool.Fonts()
    report = next(scene for scene in scenes if scene.name == "staff-4-reports")
    assert any(item.image for item in report.items)  # the chart the bot really drew
    tool.render(fonts, report, tmp_path / "report.png")
    with Image.open(tmp_path / "report.png") as image:
        assert image.width == tool.WIDTH and image.height > 600
