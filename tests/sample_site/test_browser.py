"""End to end in a real headless Chromium (Debian's chromium and chromium-driver, no download).

Chromium resolves *.localhost to the loopback address, so the tenants are reached by name, as
a person would. Screenshots go to artifacts/sample_site/.
"""

import re
import shutil
import tempfile
import uuid

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.sample_site.harness import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "artifacts" / "sample_site"


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="omnitenant-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1200,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver, seconds):
    # A form post reloads the page: elements found just before the reload go stale while
    # the wait reads them, so a stale element means "not yet", not a failure.
    return WebDriverWait(driver, seconds, ignored_exceptions=(StaleElementReferenceException,))


def screenshot(driver, site, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{site.variant}-{name}.png"
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 0


def notes(driver):
    return [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#notes li")]


def banner_color(driver):
    banner = driver.find_element(By.CSS_SELECTOR, "header.banner")
    return banner.value_of_css_property("background-color")


def test_public_site_links_to_the_tenants(browser, site):
    browser.get(site.url("localhost"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "omnitenant sample site"
    screenshot(browser, site, "public")
    browser.find_element(By.LINK_TEXT, site.url("acme.localhost")).click()
    wait(browser, 10).until(expected_conditions.url_to_be(site.url("acme.localhost")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Acme Corporation"


def test_note_created_in_acme_shows_in_acme_not_in_globex(browser, site):
    text = f"Browser note {uuid.uuid4().hex[:8]}"
    browser.get(site.url("acme.localhost"))
    browser.find_element(By.ID, "note-text").send_keys(text)
    browser.find_element(By.ID, "add-note").click()
    wait(browser, 10).until(lambda driver: any(text in n for n in notes(driver)))
    screenshot(browser, site, "acme-note-created")

    browser.get(site.url("globex.localhost"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Globex Corporation"
    assert notes(browser)  # globex has its own notes...
    assert not any(text in note for note in notes(browser))  # ...and not acme's
    screenshot(browser, site, "globex-without-acme-note")


def test_cached_settings_panel_shows_each_tenant_its_own_theme(browser, site):
    seen = {}
    for _ in range(2):  # the second round comes from the cache
        for tenant, title, theme in [
            ("acme", "Acme Corporation", "ocean"),
            ("globex", "Globex Corporation", "forest"),
        ]:
            browser.get(site.url(f"{tenant}.localhost"))
            assert browser.find_element(By.ID, "settings-title").text == title
            assert browser.find_element(By.ID, "settings-theme").text == theme
            body_class = browser.find_element(By.TAG_NAME, "body").get_attribute("class")
            assert body_class == f"theme-{theme}"
            seen[tenant] = banner_color(browser)
    assert seen["acme"] != seen["globex"]  # the theme really changes what is drawn
    screenshot(browser, site, "globex-theme")


def test_task_button_updates_the_page(browser, site):
    browser.get(site.url("acme.localhost"))
    count = len(notes(browser))
    browser.find_element(By.ID, "recount").click()
    result = wait(browser, 30).until(
        lambda driver: re.fullmatch(
            r"(\d+) notes counted at \d\d:\d\d:\d\d",
            driver.find_element(By.ID, "recount-result").text,
        )
    )
    assert int(result[1]) == count
    screenshot(browser, site, "acme-recounted")


def test_unknown_subdomain_shows_the_not_found_page(browser, site):
    browser.get(site.url("unknown.localhost"))
    assert browser.title == "No such site"
    not_found = browser.find_element(By.ID, "not-found").text
    assert f"unknown.localhost:{site.port} is not one of our tenants" in not_found
    assert "Acme" not in browser.page_source
    screenshot(browser, site, "unknown-subdomain")
