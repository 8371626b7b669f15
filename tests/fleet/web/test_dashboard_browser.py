"""The dashboard in a real headless Chromium, served by the real ``healthhub-fleet serve``.

Staff accounts are made with the real CLI; a practice_staff user logs in by typing, reads
the status table, acknowledges an alert by clicking, sees it acknowledged and opens the
report; a user of the other site sees none of it. Screenshots go to ``docs/screenshots/``
(1280x900, for the README) and to the test's artefacts.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make setup``); the browser is never
downloaded.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import Service, free_port, script, wait_until
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from healthhub.fleet.store import PracticeStore
from tests.fleet.web.dashboard_practice import Practice

REPO = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO / "docs" / "screenshots"
PASSWORD = "a quiet walk by the canal 19"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,900", "--lang=en-GB",
)  # fmt: skip


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
        )
        if found:
            return found
    raise AssertionError(
        f"{names[0]} not found: run make setup (apt-get install chromium chromium-driver)"
    )


@pytest.fixture
def browser(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = _tool("chromium")
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    # A fresh profile, outside tmp_path: its binary *.log files are not test logs.
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = ChromeService(
        executable_path=_tool("chromedriver"), log_output=str(tmp_path / "chromedriver.log")
    )
    driver = webdriver.Chrome(service=service, options=options)
    # The page's viewport (not the window, which includes the browser's own bars): 1280x900.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        yield driver
    finally:
        driver.quit()


def add_staff(practice: Practice, user: str, role: str, site: str) -> None:
    result = subprocess.run(
        [script("healthhub-fleet"), "staff", "add", "--fleet", str(practice.layout.root),
         "--user", user, "--role", role, "--site", site, "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.fixture
def dashboard(practice: Practice, tmp_path: Path) -> Iterator[str]:
    """``healthhub-fleet serve`` on a free loopback port; yields its base URL."""
    add_staff(practice, "alice", "practice_staff", "practice-a")
    add_staff(practice, "bob", "practice_staff", "practice-b")
    port = free_port()
    service = Service(
        "dashboard",
        [script("healthhub-fleet"), "serve", "--fleet", str(practice.layout.root),
         "--store", str(practice.store_path), "--port", str(port)],
        tmp_path,
    ).start()  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert service.running, f"serve exited:\n{service.log()}"
        try:
            with urllib.request.urlopen(base + "/login", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    wait_until(answers, 30, "the dashboard to answer")
    yield base
    assert service.stop() == 0, service.log()


def shot(driver: WebDriver, name: str, artifacts_dir: Path) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"dashboard-{name}.png"
    assert driver.save_screenshot(str(path))
    shutil.copy(path, artifacts_dir / path.name)


def log_in(driver: WebDriver, base: str, user: str) -> None:
    driver.get(base + "/login")
    field = driver.find_element(By.ID, "username")
    field.send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    WebDriverWait(driver, 15).until(
        ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Fleet status")
    )


def devices_shown(driver: WebDriver) -> list[str]:
    return [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#devices tbody th")]


def test_staff_log_in_see_their_units_and_acknowledge_an_alert(
    browser: WebDriver, dashboard: str, practice: Practice, artifacts_dir: Path
) -> None:
    driver, base = browser, dashboard
    driver.get(base + "/login")
    assert driver.title.startswith("Log in")
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)  # the skip link first
    driver.switch_to.active_element.send_keys(Keys.TAB)
    focused = driver.switch_to.active_element
    assert focused.get_attribute("id") == "username"
    assert focused.value_of_css_property("outline-style") == "solid"  # focus is visible
    focused.send_keys("alice")
    shot(driver, "login", artifacts_dir)

    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    WebDriverWait(driver, 15).until(
        ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Fleet status")
    )
    assert devices_shown(driver) == ["kiosk-a1", "wall-a2"]
    kiosk = driver.find_element(By.ID, "device-kiosk-a1").text
    assert "online" in kiosk
    assert "3 waiting" in kiosk
    assert "offline" in driver.find_element(By.ID, "device-wall-a2").text
    shot(driver, "status", artifacts_dir)

    driver.find_element(By.LINK_TEXT, "Alerts").click()
    WebDriverWait(driver, 15).until(ec.title_contains("Alerts"))
    help_row = f"alert-{practice.alerts['a_help']}"
    assert driver.find_element(By.ID, help_row).get_attribute("class") == "open"
    assert f"alert-{practice.alerts['b_urgent']}" not in driver.page_source
    shot(driver, "alerts-before", artifacts_dir)

    driver.find_element(By.CSS_SELECTOR, f"#{help_row} button").click()
    WebDriverWait(driver, 15).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "acknowledged")
    )
    row = driver.find_element(By.ID, help_row)
    assert row.get_attribute("class") == "acknowledged"
    assert "by alice" in row.text
    shot(driver, "alerts-after", artifacts_dir)
    store = PracticeStore(practice.store_path)
    try:
        (alert,) = [a for a in store.alerts() if a["id"] == practice.alerts["a_help"]]
    finally:
        store.close()
    assert alert["acknowledged_by"] == "alice"

    driver.find_element(By.LINK_TEXT, "Reports").click()
    WebDriverWait(driver, 15).until(ec.title_contains("Reports"))
    for field in ("start", "end"):  # what typing into a date input means depends on the
        # browser's locale (dd/mm or mm/dd), so set the value the input holds (ISO) directly
        date_input = driver.find_element(By.ID, field)
        driver.execute_script("arguments[0].value = '2026-11-23'", date_input)
    driver.find_element(By.CSS_SELECTOR, "form.inline-form button").click()
    WebDriverWait(driver, 15).until(ec.url_contains("start=2026-11-23"))
    frame = driver.find_element(By.CSS_SELECTOR, "iframe.report")
    driver.switch_to.frame(frame)
    WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.TAG_NAME, "h1")))
    report = driver.find_element(By.TAG_NAME, "body").text
    assert "2026-11-23" in report
    assert "practice-b" not in report  # alice's report is of her site only
    driver.switch_to.default_content()
    shot(driver, "reports", artifacts_dir)

    refused = [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"] or entry["level"] == "SEVERE"
    ]
    assert refused == []  # nothing the pages load breaks their own policy

    driver.find_element(By.CSS_SELECTOR, "form.who button").click()
    WebDriverWait(driver, 15).until(ec.title_contains("Log in"))
    driver.get(base + "/status")
    assert driver.title.startswith("Log in")  # logged out on the server


def test_staff_of_one_site_see_nothing_of_another(
    browser: WebDriver, dashboard: str, practice: Practice
) -> None:
    log_in(browser, dashboard, "bob")
    assert devices_shown(browser) == ["kiosk-b1"]
    browser.find_element(By.LINK_TEXT, "Alerts").click()
    WebDriverWait(browser, 15).until(ec.title_contains("Alerts"))
    rows = [
        r.get_attribute("id") for r in browser.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")
    ]
    assert rows == [f"alert-{practice.alerts['b_urgent']}"]
    assert "practice-a" not in browser.page_source
    assert "kiosk-a1" not in browser.page_source
