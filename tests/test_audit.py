"""The data audit (manage.py audit_dataset, and the admin's "Data audit" page): clean on the
curated dataset, and catching each kind of defect it looks for."""

from __future__ import annotations

import datetime
import io

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command

from cryptogroups import models
from tests import factories as f
from tests.test_dataset import SEED_DIR

pytestmark = pytest.mark.django_db

SEED = "star-2017-09-16-wechat-crackdown"
CHECKED = {"checked_on": datetime.date(2026, 12, 4), "source_text": "read"}


def run_audit(*args: str) -> tuple[str, bool]:
    """The audit's report, and whether it passed."""
    out = io.StringIO()
    try:
        call_command("audit_dataset", *args, stdout=out)
    except CommandError:
        return out.getvalue(), False
    return out.getvalue(), True


def findings(report: str, kind: str) -> list[str]:
    return [line for line in report.splitlines() if line.startswith(f"{kind}: ")]


def seed_text_arguments() -> list[str]:
    return [f"--source-text={SEED}={SEED_DIR}"] if SEED_DIR.is_dir() else []


def test_the_curated_dataset_passes_the_audit():
    report, passed = run_audit(*seed_text_arguments())
    assert passed, report
    assert report.splitlines()[-1].startswith("0 finding(s) over ")


@pytest.mark.skipif(not SEED_DIR.is_dir(), reason="the seed article is not beside the project")
def test_the_seeds_quotes_are_checked_against_its_text():
    report, _ = run_audit(*seed_text_arguments())
    assert f"source texts checked: {SEED}." in report


def dated_source(**fields) -> models.Source:
    return f.source(
        published_date=datetime.date(2017, 9, 15),
        published_precision="day",
        published_qualifier="exact",
        **fields,
    )


def test_a_record_without_citations_is_reported():
    f.organization(slug="uncited-body")
    report, passed = run_audit()
    assert not passed
    assert findings(report, "uncited") == ["uncited: organization uncited-body: has no citation"]


def test_a_citation_of_a_field_the_representation_lacks_is_reported():
    record = f.organization()
    citation = f.cite(record, source=dated_source(), **CHECKED)
    models.Citation.objects.filter(pk=citation.pk).update(field_name="founded_date")

    report, passed = run_audit()

    assert not passed
    [line] = findings(report, "field")
    assert line.startswith(f"field: citation {citation.pk}: ")
    assert "founded_date" in line


@pytest.mark.skipif(not SEED_DIR.is_dir(), reason="the seed article is not beside the project")
def test_a_verbatim_quote_not_in_the_seed_is_reported():
    seed = models.Source.objects.get(slug=SEED)
    citation = f.cite(f.organization(), source=seed, quote="Words the seed never says.")
    models.Citation.objects.filter(pk=citation.pk).update(verbatim=True, **CHECKED)

    report, passed = run_audit(*seed_text_arguments())

    assert not passed
    assert [line.split(":")[1].strip() for line in findings(report, "not-in-text")] == [
        f"citation {citation.pk}"
    ]


@pytest.mark.skipif(not SEED_DIR.is_dir(), reason="the seed article is not beside the project")
def test_a_paraphrase_of_the_seed_is_reported():
    seed = models.Source.objects.get(slug=SEED)
    citation = f.cite(f.organization(), source=seed, quote="A paraphrase.", **CHECKED)

    report, passed = run_audit(*seed_text_arguments())

    assert not passed
    assert [line.split(":")[1].strip() for line in findings(report, "not-verbatim")] == [
        f"citation {citation.pk}"
    ]


def test_a_source_missing_its_date_or_original_is_reported():
    undated = f.source(slug="no-date-source")
    copy = dated_source(slug="wire-copy", source_type="wire_syndication")
    shown_undated = f.source(slug="page-shows-no-date", undated=True)
    for source in (undated, copy, shown_undated):
        f.cite(f.organization(), source=source, **CHECKED)

    report, passed = run_audit()

    assert not passed
    subjects = {line.split(":")[1].strip() for line in findings(report, "source-metadata")}
    assert subjects == {"source no-date-source", "source wire-copy"}


def test_an_unchecked_citation_is_reported():
    citation = f.cite(f.organization(), source=dated_source())

    report, passed = run_audit()

    assert not passed
    assert [line.split(":")[1].strip() for line in findings(report, "unchecked")] == [
        f"citation {citation.pk}"
    ]


def test_a_date_more_precise_than_its_quotes_is_reported():
    source = dated_source()
    vague = f.action(
        slug="vague-action",
        announced_date=datetime.date(2017, 9, 8),
        announced_precision="day",
        announced_qualifier="exact",
    )
    f.cite(vague, source=source, **CHECKED)
    f.cite(vague, source=source, field_name="announced", quote="Later in September.", **CHECKED)
    models.Citation.objects.filter(object_id=vague.pk, field_name="announced").update(verbatim=True)
    exact = f.action(
        slug="exact-action",
        announced_date=datetime.date(2017, 9, 8),
        announced_precision="day",
        announced_qualifier="exact",
    )
    f.cite(exact, source=source, **CHECKED)
    f.cite(exact, source=source, field_name="announced", quote="On Sept. 8 it said.", **CHECKED)
    models.Citation.objects.filter(object_id=exact.pk, field_name="announced").update(verbatim=True)
    uncited_date = f.action(
        slug="uncited-date-action",
        effective_date=datetime.date(2017, 10, 1),
        effective_precision="month",
        effective_qualifier="exact",
    )
    f.cite(uncited_date, source=source, **CHECKED)

    report, passed = run_audit()

    assert not passed
    lines = findings(report, "date-precision")
    assert any(
        line.startswith("date-precision: regulatoryaction vague-action: announced")
        for line in lines
    )
    assert not any("exact-action" in line for line in lines)
    assert any(
        line.startswith(
            "date-precision: regulatoryaction uncited-date-action: effective: no citation"
        )
        for line in lines
    )


def test_a_date_that_is_the_sources_own_date_is_not_reported():
    source = dated_source()
    record = f.action(
        slug="as-of-report",
        status_as_of_date=source.published_date,
        status_as_of_precision="day",
        status_as_of_qualifier="exact",
    )
    f.cite(record, source=source, **CHECKED)
    f.cite(record, source=source, field_name="status_as_of", quote="It is in force.", **CHECKED)
    models.Citation.objects.filter(object_id=record.pk, field_name="status_as_of").update(
        verbatim=True
    )

    report, _ = run_audit()

    lines = findings(report, "date-precision")
    assert "date-precision: regulatoryaction as-of-report: announced: no citation names it" in lines
    assert not any(
        line.startswith("date-precision: regulatoryaction as-of-report: status_as_of")
        for line in lines
    )


def test_a_source_text_that_names_no_source_is_refused(tmp_path):
    (tmp_path / "text.txt").write_text("Some text.")
    with pytest.raises(CommandError, match="no source 'no-such-source'"):
        call_command("audit_dataset", f"--source-text=no-such-source={tmp_path}")


def test_the_admin_shows_the_same_report(client, django_user_model):
    user = django_user_model.objects.create_superuser("auditor", "a@example.org", None)
    client.force_login(user)
    f.organization(slug="uncited-for-admin")

    page = client.get("/admin/audit/")

    assert page.status_code == 200
    body = page.content.decode()
    assert "organization uncited-for-admin" in body
    assert client.get("/admin/").content.decode().count('href="/admin/audit/"') == 1


def test_the_audit_page_is_for_staff_only(client):
    response = client.get("/admin/audit/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_content_type_of_a_citation_is_limited_to_cited_models():
    field = models.Citation._meta.get_field("content_type")
    offered = {ct.model for ct in ContentType.objects.filter(field.get_limit_choices_to())}
    assert offered == {
        "organization",
        "platform",
        "platformavailability",
        "exchange",
        "exchangeresponse",
        "group",
        "migration",
        "regulatoryaction",
    }
