"""The curation admin in Chromium at a desktop window (1400x1000), as curators use it: the
change form of every kind of record, opened on a record of the curated dataset that has
citations, fits the window with no sideways scrolling, citations inline included; a failed
save says at the top of the page what is wrong and where; the start page lists what waits.

A screenshot of each page is kept in build/screenshots/. Runs against pytest-django's live
server (tests/browser.py); without the browser the tests are skipped, unless
``REQUIRE_BROWSER=1``, in which case they fail. The pages are checked in one test, which
reports every page's problems: each test of a live server empties the database after it, and
the curated dataset is loaded again for the next.
"""

from __future__ import annotations

import pytest
from django.db.models import Count
from django.db.models.functions import Length
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from cryptogroups import models
from tests import factories as f
from tests.browser import WINDOW, log_in, page_ready, save, screenshot, type_into, visible

# The module commits to the database: the curated dataset is put back after it.
pytestmark = pytest.mark.usefixtures("dataset_left_in_place")

CITATIONS = "cryptogroups-citation-content_type-object_id"

CITED = [
    models.Organization,
    models.Platform,
    models.PlatformAvailability,
    models.Exchange,
    models.ExchangeResponse,
    models.Group,
    models.Migration,
    models.RegulatoryAction,
]

#: The narrowest a quote's text area may be and still be read: some 35 characters a line.
READABLE_QUOTE_WIDTH = 250


def curated_record(model):
    """The record of the curated dataset with the most citations (the longest table), or, for
    a citation, the one with the longest quote (the most text to fit)."""
    if model is models.Citation:
        records = model.objects.annotate(length=Length("quote")).order_by("-length", "pk")
    else:
        records = (
            model.objects.annotate(cited=Count("citations"))
            .filter(cited__gt=0)
            .order_by("-cited", "pk")
        )
    record = records.first()
    assert record is not None, f"the curated dataset has no cited {model.__name__}"
    return record


def change_path(record) -> str:
    return f"/admin/cryptogroups/{record._meta.model_name}/{record.pk}/change/"


def overflow(driver: WebDriver) -> list[str]:
    """What scrolls sideways: the page itself, or one of its tabular inlines."""
    page, window, visible_width = driver.execute_script(
        "const root = document.documentElement;"
        "return [root.scrollWidth, window.innerWidth, root.clientWidth];"
    )
    assert window == WINDOW[0]
    problems = []
    if page > window or page > visible_width:
        problems.append(f"the page is {page}px wide, in a window of {window}px")
    for name, content, box in driver.execute_script(
        "return Array.from(document.querySelectorAll('.inline-related.tabular'),"
        " e => [e.parentElement.id, e.scrollWidth, e.clientWidth]);"
    ):
        if content > box:
            problems.append(f"the inline {name} is {content}px wide, in {box}px")
    return problems


def citations_inline_problems(driver: WebDriver, record) -> list[str]:
    """The citations inline of a cited record: a row per citation, labelled by name, with the
    quote in a text area wide enough to read and the field a choice of the record's API
    fields."""
    container = driver.find_elements(By.CSS_SELECTOR, f"#{CITATIONS}-group .tabular")
    if not container:
        return ["no citations inline"]
    problems = []
    content, box = driver.execute_script(
        "return [arguments[0].scrollWidth, arguments[0].clientWidth];", container[0]
    )
    if content > box:
        problems.append(f"the citations are {content}px wide, in {box}px")
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{CITATIONS}-group tr.form-row.has_original")
    citations = list(record.citations.select_related("source").order_by("pk"))
    if len(rows) != len(citations):
        return [*problems, f"{len(rows)} rows for {len(citations)} citations"]
    for row, citation in zip(rows, citations, strict=True):
        label = row.find_element(By.CSS_SELECTOR, "td.original p").get_attribute("textContent")
        if citation.source.title not in label or str(record) not in label:
            problems.append(f"citation {citation.pk} is labelled {label.strip()!r}")
        quote = row.find_element(By.CSS_SELECTOR, ".field-quote textarea")
        if quote.get_attribute("value") != citation.quote:
            problems.append(f"citation {citation.pk}: the quote is not in its text area")
        if quote.size["width"] < READABLE_QUOTE_WIDTH:
            problems.append(f"citation {citation.pk}: the quote is {quote.size['width']}px wide")
        options = [
            option.get_attribute("value")
            for option in row.find_elements(By.CSS_SELECTOR, ".field-field_name select option")
        ]
        if options != ["", *type(record).cited_fields]:
            problems.append(f"citation {citation.pk}: the field is chosen among {options}")
    return problems


def test_every_change_form_fits_the_window(committed_dataset, live_server, staff_curator, browser):
    log_in(browser, live_server.url, staff_curator)
    problems: dict[str, list[str]] = {}
    for model in [*CITED, models.Source, models.Citation]:
        record = curated_record(model)
        browser.get(live_server.url + change_path(record))
        page_ready(browser)
        visible(browser, f"#{model._meta.model_name}_form")
        screenshot(browser, f"change-form-{model._meta.model_name}")
        found = overflow(browser)
        if model in CITED:
            found += citations_inline_problems(browser, record)
        if model is models.Citation:
            quote = browser.find_element(By.ID, "id_quote")
            if quote.tag_name != "textarea" or quote.size["width"] < READABLE_QUOTE_WIDTH:
                found.append(f"the quote is a {quote.tag_name}, {quote.size['width']}px wide")
        if found:
            problems[f"{model.__name__} {record.pk}"] = found

    assert problems == {}


def test_a_failed_save_says_what_is_wrong_at_the_top(
    committed_dataset, live_server, staff_curator, browser
):
    group = curated_record(models.Group)
    name = group.name
    log_in(browser, live_server.url, staff_curator)
    browser.get(live_server.url + change_path(group))
    page_ready(browser)

    browser.find_element(By.ID, "id_name").clear()
    browser.find_element(By.ID, f"id_{CITATIONS}-1-quote").clear()
    type_into(browser, "id_change_reason", "Shorten the quote")
    save(browser)
    page_ready(browser)

    summary = visible(browser, "#error-summary")
    screenshot(browser, "failed-save-group")
    items = [item.text for item in summary.find_elements(By.CSS_SELECTOR, "li")]
    assert items == [
        "Name: This field is required.",
        "Citations, row 2: Quote: This field is required.",
    ]
    # At the top: above the form's first field, in the first screenful.
    first_field = browser.find_element(By.CSS_SELECTOR, "#group_form fieldset")
    assert summary.location["y"] < first_field.location["y"]
    assert summary.location["y"] + summary.size["height"] < WINDOW[1]
    # Each item leads to its field.
    links = [a.get_attribute("hash") for a in summary.find_elements(By.CSS_SELECTOR, "a")]
    assert links == ["#id_name", f"#id_{CITATIONS}-1-quote"]
    assert overflow(browser) == []
    group.refresh_from_db()
    assert group.name == name


def test_start_page_lists_what_waits_for_curators(
    committed_dataset, live_server, staff_curator, browser
):
    draft = f.organization(name="Browser draft ministry", publication_status="draft")
    f.cite(draft, checked_on="2026-12-04", source_text="read")
    log_in(browser, live_server.url, staff_curator)
    browser.get(f"{live_server.url}/admin/")
    page_ready(browser)

    queue = visible(browser, "#review-queue")
    screenshot(browser, "start-page")
    drafts = queue.find_element(By.ID, "review-drafts")
    link = drafts.find_element(By.LINK_TEXT, "Organization: Browser draft ministry")
    assert browser.find_element(By.ID, "review-drafts-count").text == "1"
    assert overflow(browser) == []

    link.click()
    page_ready(browser)
    assert browser.current_url == live_server.url + change_path(draft)
