"""What the browser tests share: headless Debian Chromium (packages ``chromium`` and
``chromium-driver``) driven by Selenium at a window of 1400x1000, waits, log-in, layout
measurements and screenshots. The fixtures that use it are in tests/conftest.py.

Without the browser the tests are skipped, unless ``REQUIRE_BROWSER=1`` (set by CI), in which
case they fail.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

#: The window the admin is checked at.
WINDOW = (1400, 1000)

#: Seconds to wait for a page, an element or a script-driven change.
WAIT = 20

#: The password of the curators the browser tests log in as.
PASSWORD = "a-curator's-long-passphrase"  # pragma: allowlist secret

#: Where the browser tests keep their screenshots: build/ is the artifacts folder.
SCREENSHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"


def start_chromium() -> WebDriver:
    """Headless Chromium at the admin's window size; skips (or fails, with
    ``REQUIRE_BROWSER=1``) when the browser is not installed."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        message = (
            f"Browser test needs {' and '.join(missing)}: apt-get install chromium chromium-driver"
        )
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"{message} (REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):
        options.add_argument(argument)
    # The driver's path is given, so Selenium does not look for (or download) one.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(WAIT)
    return driver


def wait(driver: WebDriver) -> WebDriverWait:
    return WebDriverWait(driver, WAIT)


def visible(driver: WebDriver, css: str) -> WebElement:
    return wait(driver).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))


def type_into(driver: WebDriver, element_id: str, text: str) -> None:
    field = visible(driver, f"#{element_id}")
    field.clear()
    field.send_keys(text)


def save(driver: WebDriver) -> None:
    """Clicks Save and waits for the next page."""
    button = visible(driver, "input[name='_save']")
    button.click()
    wait(driver).until(ec.staleness_of(button))


def log_in(driver: WebDriver, base_url: str, user) -> None:
    driver.get(f"{base_url}/admin/login/")
    type_into(driver, "id_username", user.username)
    type_into(driver, "id_password", PASSWORD)
    submit = visible(driver, "#login-form input[type='submit']")
    submit.click()
    wait(driver).until(ec.staleness_of(submit))
    assert "/admin/login/" not in driver.current_url, driver.page_source[:2000]


def page_ready(driver: WebDriver) -> None:
    """Waits for the page's scripts to have run (the autocompletes are drawn by them) and its
    fonts and images to be laid out."""
    wait(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")
    driver.execute_script("return document.fonts.ready")


def horizontal_overflow(driver: WebDriver, css: str | None = None) -> tuple[int, int]:
    """(content width, visible width) of the page, or of the element ``css`` selects: the page
    scrolls sideways when the first is larger."""
    if css is None:
        return tuple(
            driver.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth];"
            )
        )
    return tuple(
        driver.execute_script(
            "const e = document.querySelector(arguments[0]);return [e.scrollWidth, e.clientWidth];",
            css,
        )
    )


def screenshot(driver: WebDriver, name: str) -> Path:
    """Keeps a screenshot of the whole page (its full height, at the window's width) under
    build/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WINDOW[0], max(WINDOW[1], min(height + 150, 8000)))
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(*WINDOW)
    return path
