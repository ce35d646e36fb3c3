"""A curator's workflow in a real browser: log in to the admin, add an organisation, learn that
it cannot be published without a citation, cite a source through the autocomplete, publish it,
and find it in the public API and in the changes feed. Also checks that the interactive API
documentation renders its operations.

Runs headless Debian Chromium through Selenium against pytest-django's live server
(tests/browser.py). Without the browser the test is skipped, unless ``REQUIRE_BROWSER=1`` (set
by CI), in which case it fails.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from cryptogroups import models
from tests.browser import WAIT, log_in, save, type_into, visible, wait

# The module commits to the database: the curated dataset is put back after it.
pytestmark = pytest.mark.usefixtures("dataset_left_in_place")

SLUG = "browser-test-authority"
NAME = "Browser Test Authority"
QUOTE = "Regulators ordered the groups to close."
#: Part of the title of a source in fixtures/, typed into the source autocomplete.
SOURCE_SEARCH = "Crackdown on WeChat"

CITATIONS = "cryptogroups-citation-content_type-object_id"
NO_CITATION_ERROR = "cannot be published without at least one citation"


def get_json(url: str) -> dict:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        assert response.status == 200, url
        return json.load(response)


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
