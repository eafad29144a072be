"""Headless Chromium through Selenium and the system chromedriver (no browser download)."""

from __future__ import annotations

import os
import shutil


class NoBrowser(RuntimeError):
    """No Chromium / chromedriver / selenium here (the message says what to install)."""


def chromium_driver(window: str = "1280,1000"):
    """A headless Chromium WebDriver; ``NoBrowser`` when something is missing."""
    chromium = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                                 shutil.which("google-chrome")) if p), None)
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    if not chromium or not driver:
        raise NoBrowser("no Chromium and chromedriver for the browser test (Debian: apt-get install "
                        "chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise NoBrowser("the browser test needs selenium (pip install -e \".[test]\")") from None
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download anything
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={window}", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def wait(browser, script: str, timeout: float = 60.0):
    """Poll ``script`` (JavaScript returning a truthy value when done) until it holds."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(lambda b: b.execute_script(script))
