"""A real browser for the dashboard's tests: Debian's Chromium, driven by Selenium through
Debian's chromedriver (the same Chromium build, so their versions always match; nothing is
downloaded: the driver's path is given explicitly, so Selenium Manager never runs)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_SECONDS = 30.0  # a loaded CI machine
ARTIFACTS_ENV = "WARDEN_TEST_ARTIFACTS"


def artifacts_dir() -> Path:
    """Where screenshots go: $WARDEN_TEST_ARTIFACTS, else test-artifacts/ui (git-ignored)."""
    root = os.environ.get(ARTIFACTS_ENV) or str(Path(__file__).resolve().parents[2] / "test-artifacts")
    path = Path(root) / "ui"
    path.mkdir(parents=True, exist_ok=True)
    return path


class Browser:
    def __init__(self) -> None:
        for binary in (CHROMIUM, CHROMEDRIVER):
            if not os.access(binary, os.X_OK):
                raise AssertionError(f"{binary} is not installed: apt-get install chromium chromium-driver "
                                     "(.ci/run installs them)")
        self.profile = tempfile.mkdtemp(prefix="warden-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1440,1000", f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.artifacts = artifacts_dir()

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def open(self, url: str) -> None:
        self.driver.get(url)

    def wait(self, condition: Callable[[Any], Any], what: str) -> Any:
        try:
            return WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=0.1).until(condition)
        except TimeoutException:
            self.screenshot("timeout-" + "".join(c if c.isalnum() else "-" for c in what)[:60])
            raise AssertionError(f"timed out waiting for {what}; page text:\n{self.text('body')}") from None

    def element(self, css: str) -> WebElement:
        return self.wait(lambda d: _visible(d, css), css)  # type: ignore[no-any-return]

    def elements(self, css: str) -> list[WebElement]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        return "\n".join(e.text for e in found)

    def screenshot(self, name: str) -> Path:
        path = self.artifacts / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def console_errors(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]


def _visible(driver: Any, css: str) -> WebElement | None:
    for element in driver.find_elements(By.CSS_SELECTOR, css):
        if element.is_displayed():
            return element  # type: ignore[no-any-return]
    return None
