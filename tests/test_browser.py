"""A curator's workflow in a real browser: log in to the admin, add an organisation, learn that
it cannot be published without a citation, cite a source through the autocomplete, publish it,
and find it in the public API and in the changes feed. Also checks that the interactive API
documentation renders its operations.

Runs headless Debian Chromium (packages ``chromium`` and ``chromium-driver``) through Selenium
against pytest-django's live server. Without the browser the test is skipped, unless
``REQUIRE_BROWSER=1`` (set by CI), in which case it fails.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from cryptogroups import models
from cryptogroups.roles import CURATORS_GROUP

# The module commits to the database: the curated dataset is put back after it.
pytestmark = pytest.mark.usefixtures("dataset_left_in_place")

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

#: Seconds to wait for a page, an element or a script-driven change.
WAIT = 20

PASSWORD = "a-curator's-long-passphrase"
SLUG = "browser-test-authority"
NAME = "Browser Test Authority"
QUOTE = "Regulators ordered the groups to close."
#: Part of the title of a source in fixtures/, typed into the source autocomplete.
SOURCE_SEARCH = "Crackdown on WeChat"

CITATIONS = "cryptogroups-citation-content_type-object_id"
NO_CITATION_ERROR = "cannot be published without at least one citation"


@pytest.fixture(autouse=True)
def static_files_under_their_own_names(settings) -> None:
    """The live server serves static files from the apps' folders (Django's
    StaticFilesHandler), under their own names: pages must name them so, not by the hashed
    copies a deployment collects and WhiteNoise serves (tests/test_production.py checks
    those)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def browser() -> Iterator[WebDriver]:
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
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    # The driver's path is given, so Selenium does not look for (or download) one.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(WAIT)
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def staff_curator(committed_dataset) -> User:
    user = User.objects.create_user(
        "browser-curator", email="browser-curator@example.org", password=PASSWORD, is_staff=True
    )
    user.groups.add(Group.objects.get(name=CURATORS_GROUP))
    return user


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


def get_json(url: str) -> dict:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        assert response.status == 200, url
        return json.load(response)


def log_in(driver: WebDriver, base_url: str, user: User) -> None:
    driver.get(f"{base_url}/admin/login/")
    type_into(driver, "id_username", user.username)
    type_into(driver, "id_password", PASSWORD)
    submit = visible(driver, "#login-form input[type='submit']")
    submit.click()
    wait(driver).until(ec.staleness_of(submit))
    assert "/admin/login/" not in driver.current_url, driver.page_source[:2000]


def cite_source(driver: WebDriver, search: str) -> None:
    """Adds a citation row and picks its source in the autocomplete by part of its title."""
    visible(driver, f"#{CITATIONS}-group .add-row a").click()
    row = visible(driver, f"#{CITATIONS}-0")
    row.find_element(By.CSS_SELECTOR, ".field-source .select2-selection").click()
    visible(driver, ".select2-container--open .select2-search__field").send_keys(search)
    option = wait(driver).until(
        ec.element_to_be_clickable(
            (
                By.XPATH,
                "//li[contains(@class, 'select2-results__option')"
                " and not(contains(@class, 'loading-results'))"
                f" and contains(., '{search}')]",
            )
        )
    )
    option.click()
    wait(driver).until(
        lambda d: (
            search
            in d.find_element(
                By.CSS_SELECTOR, f"#{CITATIONS}-0 .field-source .select2-selection"
            ).text
        )
    )
    type_into(driver, f"id_{CITATIONS}-0-quote", QUOTE)
    Select(driver.find_element(By.ID, f"id_{CITATIONS}-0-support")).select_by_value("stated")


def feed(base_url: str) -> list[dict]:
    """Every entry of the changes feed, following its pages to the end."""
    entries: list[dict] = []
    url = f"{base_url}/api/v1/changes/?page_size=500"
    for _ in range(100):
        page = get_json(url)
        entries.extend(page["results"])
        if page["next"] is None:
            return entries
        url = page["next"]
    raise AssertionError("The changes feed did not end within 100 pages.")


def test_curator_publishes_a_cited_organization(
    committed_dataset, live_server, staff_curator, browser
):
    source = models.Source.objects.get(title__startswith=SOURCE_SEARCH)
    base_url = live_server.url
    log_in(browser, base_url, staff_curator)

    browser.get(f"{base_url}/admin/cryptogroups/organization/add/")
    type_into(browser, "id_name", NAME)
    type_into(browser, "id_slug", SLUG)  # after the name, which prefills it
    Select(browser.find_element(By.ID, "id_org_type")).select_by_value("regulator")
    type_into(browser, "id_country", "CN")
    Select(browser.find_element(By.ID, "id_publication_status")).select_by_value("published")
    type_into(browser, "id_change_reason", "Add the authority named in the Bloomberg story")

    # Published without a citation: refused, nothing saved.
    save(browser)
    visible(browser, ".errornote")
    assert NO_CITATION_ERROR in browser.page_source
    assert not models.Organization.objects.filter(slug=SLUG).exists()

    cite_source(browser, SOURCE_SEARCH)
    save(browser)
    message = visible(browser, ".messagelist .success")
    assert "was added successfully" in message.text
    assert NAME in message.text
    assert NO_CITATION_ERROR not in browser.page_source

    record = get_json(f"{base_url}/api/v1/organizations/{SLUG}/")
    assert record["name"] == NAME
    assert record["org_type"] == "regulator"
    assert record["country"] == "CN"
    assert record["publication_status"] == "published"
    assert len(record["citations"]) == 1
    citation = record["citations"][0]
    assert citation["source"]["slug"] == source.slug
    assert citation["quote"] == QUOTE
    assert citation["support"] == "stated"

    created = [
        entry
        for entry in feed(base_url)
        if entry["resource"] == "organizations"
        and entry["slug"] == SLUG
        and entry["operation"] == "created"
    ]
    assert len(created) == 1, created
    assert created[0]["data"]["name"] == NAME
    assert len(created[0]["data"]["citations"]) == 1

    # The interactive documentation, from the static files of drf-spectacular-sidecar.
    browser.get(f"{base_url}/api/docs/")
    groups = ".opblock .opblock-summary-path[data-path='/api/v1/groups/']"
    wait(browser).until(ec.visibility_of_element_located((By.CSS_SELECTOR, groups)))
    paths = {
        element.get_attribute("data-path")
        for element in browser.find_elements(By.CSS_SELECTOR, ".opblock .opblock-summary-path")
    }
    assert {"/api/v1/groups/", "/api/v1/organizations/{slug}/", "/api/v1/changes/"} <= paths
    assert len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) > 10
