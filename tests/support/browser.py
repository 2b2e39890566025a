"""A real headless Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium, for
the console's browser tests. Selenium blocks, so every call runs in a thread while the bot and
the console keep serving on the event loop. Screenshots go to var/test-artifacts/console/."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "console"
T = TypeVar("T")


def chromium_paths() -> tuple[str, str]:
    """Chromium and its driver, or skip with what to install."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are not installed; .ci/test installs them")
        pytest.skip("needs Debian's chromium and chromium-driver (bash .ci/test installs them)")
    return browser, driver


class Chromium:
    def __init__(self, width: int = 1280, height: int = 900) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        browser, driver = chromium_paths()
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--no-proxy-server", "--lang=zh-CN",
                     "--hide-scrollbars", f"--window-size={width},{height}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(driver), options=options)
        self.driver.set_page_load_timeout(30)

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(work, *args)

    async def open(self, url: str) -> None:
        await self.run(self.driver.get, url)

    async def click(self, css: str) -> None:
        from selenium.webdriver.common.by import By

        element = await self.run(self.driver.find_element, By.CSS_SELECTOR, css)
        await self.run(element.click)

    async def send_file(self, css: str, path: Path) -> None:
        from selenium.webdriver.common.by import By

        element = await self.run(self.driver.find_element, By.CSS_SELECTOR, css)
        await self.run(element.send_keys, str(path))

    async def text(self) -> str:
        from selenium.webdriver.common.by import By

        body = await self.run(self.driver.find_element, By.TAG_NAME, "body")
        return str(await self.run(lambda: body.text))

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        for _ in range(int(timeout / 0.1)):
            if await self.run(predicate):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"browser still at {self.url}")

    async def screenshot(self, name: str, *also: Path) -> Path:
        """Save the whole page (as tall as its content) as a PNG artefact."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        cdp = self.driver.execute_cdp_cmd
        size = (await self.run(cdp, "Page.getLayoutMetrics", {}))["cssContentSize"]
        shot = await self.run(cdp, "Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                     "scale": 1}})
        path.write_bytes(base64.b64decode(shot["data"]))
        for folder in also:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, folder / path.name)
        return path

    def close(self) -> None:
        self.driver.quit()
