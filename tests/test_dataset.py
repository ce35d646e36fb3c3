"""The curated dataset: it loads into an empty database, every record is cited, and the API
tells the story of the seed article."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from cryptogroups import models
from cryptogroups.dataset import CITED_MODELS, fixture_paths, uncited_records
from tests import factories

pytestmark = pytest.mark.django_db

SEED_DIR = Path(settings.BASE_DIR).parent / "shared" / "seed"

RESOURCES = {
    models.Organization: "organizations",
    models.Platform: "platforms",
    models.PlatformAvailability: "platform-availabilities",
    models.Exchange: "exchanges",
    models.ExchangeResponse: "exchange-responses",
    models.Group: "groups",
    models.Migration: "migrations",
    models.RegulatoryAction: "regulatory-actions",
}


def all_results(api, path: str) -> list[dict]:
    results, url = [], f"{path}?page_size=100"
    while url:
        body = api.get(url).json()
        results += body["results"]
        url = body["next"]
    return results


def fixture_rows() -> list[dict]:
    return [row for path in fixture_paths() for row in json.loads(path.read_text())]


def test_fixtures_load_into_an_empty_database():
    # Records that point at records of their own kind let go first.
    models.Organization.objects.update(parent=None)
    models.RegulatoryAction.objects.update(supersedes=None)
    models.Source.objects.update(syndicated_from=None)
    for model in [
        models.Citation,
        models.ActionIssuer,
        models.ActionTarget,
        models.GroupExchange,
        models.ExchangeResponse,
        models.Migration,
        models.Group,
        models.PlatformAvailability,
        models.RegulatoryAction,
        models.Exchange,
        models.Platform,
        models.Organization,
        models.Source,
    ]:
        model.objects.all().delete()
    assert not models.Exchange.objects.exists()

    call_command("load_dataset", verbosity=0)

    rows = fixture_rows()
    for model in [models.Source, models.Citation, models.ActionIssuer, *CITED_MODELS]:
        label = f"cryptogroups.{model._meta.model_name}"
        assert model.objects.count() == sum(row["model"] == label for row in rows), label


def test_the_fixtures_cover_the_story():
    for model, slugs in {
        models.Exchange: {"okcoin", "huobi", "btcchina", "bitkan", "viabtc", "yunbi"},
        models.Platform: {"wechat", "telegram"},
        models.RegulatoryAction: {
            "cn-2017-ico-ban",
            "cn-2017-group-chat-rules",
            "cn-2017-exchange-ban-reported",
            "cn-2015-telegram-block",
            "cn-2021-pboc-virtual-currency-notice",
        },
    }.items():
        assert slugs <= set(model.objects.values_list("slug", flat=True)), model


def test_every_fact_bearing_record_is_cited():
    assert list(uncited_records()) == []
    for model in CITED_MODELS:
        assert model.objects.exists(), f"no {model.__name__} in the dataset"


@pytest.mark.parametrize(("model", "resource"), RESOURCES.items())
def test_every_record_in_the_api_shows_its_citations(api, model, resource):
    results = all_results(api, f"/api/v1/{resource}/")
    assert len(results) == model.objects.count()
    for record in results:
        assert record["citations"], record["slug"]
        for citation in record["citations"]:
            assert citation["quote"]
            assert citation["support"] in {"stated", "implied", "contradicts"}
            assert citation["source"]["document_url"].startswith("http")


def test_every_citation_is_valid():
    for citation in models.Citation.objects.select_related("content_type", "source"):
        assert citation.record is not None, f"citation {citation.pk} points at nothing"
        citation.full_clean()


def test_every_record_passes_model_validation():
    for model in [models.Source, *CITED_MODELS]:
        for record in model.objects.all():
            record.full_clean()


@pytest.mark.skipif(not SEED_DIR.is_dir(), reason="the seed article is not beside the project")
def test_verbatim_quotes_of_the_seed_are_in_the_seed():
    seed_text = " ".join(
        path.read_text(encoding="utf-8") for path in sorted(SEED_DIR.glob("*.txt"))
    )
    normalise = lambda text: " ".join(text.replace("\u2019", "'").split())  # noqa: E731
    seed_text = normalise(seed_text)
    seed_sources = models.Source.objects.filter(url__contains="pressreader.com")
    quotes = models.Citation.objects.filter(source__in=seed_sources, verbatim=True)
    assert quotes.exists()
    for citation in quotes:
        for fragment in citation.quote.split("…"):
            assert normalise(fragment.strip(" .")) in seed_text, citation.quote


def test_loading_refuses_a_dataset_with_an_uncited_record():
    factories.exchange(slug="uncited-exchange")
    with pytest.raises(CommandError, match="uncited-exchange"):
        call_command("load_dataset", verbosity=0)


def test_telegram_groups_are_listed_by_platform(api):
    results = all_results(api, "/api/v1/groups/?platform=telegram")
    slugs = {group["slug"] for group in results}
    assert {"okcoin-telegram-group", "huobi-telegram-group", "btcchina-telegram-group"} <= slugs
    assert all(group["platform"]["slug"] == "telegram" for group in results)
    assert slugs == set(
        models.Group.objects.filter(platform__slug="telegram").values_list("slug", flat=True)
    )


def test_unofficial_exchange_groups_say_so(api):
    body = api.get("/api/v1/groups/okcoin-telegram-group/").json()
    assert body["exchanges"] == [
        {
            "slug": "okcoin",
            "name": "OKCoin",
            "url": "http://testserver/api/v1/exchanges/okcoin/",
            "affiliation": "unofficial",
        }
    ]


def test_btcchina_shows_its_responses_and_citations(api):
    body = api.get("/api/v1/exchanges/btcchina/").json()
    assert body["name"] == "BTCChina"
    kinds = {response["response_type"] for response in body["responses"]}
    assert {"halt_all_trading", "stop_registrations"} <= kinds
    halt = next(r for r in body["responses"] if r["response_type"] == "halt_all_trading")
    assert halt["effective"]["value"] == "2017-09-30"
    assert body["citations"]


def test_china_actions_of_september_2017(api):
    results = all_results(
        api,
        "/api/v1/regulatory-actions/?jurisdiction=CN"
        "&announced_after=2017-09-01&announced_before=2017-09-30",
    )
    slugs = {action["slug"] for action in results}
    assert {"cn-2017-ico-ban", "cn-2017-group-chat-rules"} <= slugs
    assert "cn-2015-telegram-block" not in slugs
    assert "cn-2021-pboc-virtual-currency-notice" not in slugs
    for action in results:
        assert action["jurisdiction"] == "CN"
        assert "2017-09-01" <= action["announced"]["date"] <= "2017-09-30"


def test_group_rules_keep_both_dates(api):
    body = api.get("/api/v1/regulatory-actions/cn-2017-group-chat-rules/").json()
    assert body["announced"]["value"] == "2017-09-07"
    assert body["effective"]["value"] == "2017-10-08"
    assert [issuer["slug"] for issuer in body["issuers"]] == ["cac"]


def test_ico_ban_has_seven_issuers_led_by_the_central_bank(api):
    body = api.get("/api/v1/regulatory-actions/cn-2017-ico-ban/").json()
    roles = {issuer["slug"]: issuer["role"] for issuer in body["issuers"]}
    assert len(roles) == 7
    assert roles["pboc"] == "lead"
    assert sorted(role for slug, role in roles.items() if slug != "pboc") == ["co_issuer"] * 6


def test_telegram_is_blocked_in_china_since_july_2015(api):
    body = api.get("/api/v1/platforms/telegram/").json()
    blocked = [a for a in body["availabilities"] if a["jurisdiction"] == "CN"]
    assert blocked[0]["status"] == "blocked"
    assert blocked[0]["since"]["value"] == "2015-07"
    assert blocked[0]["since"]["precision"] == "month"
    listed = all_results(api, "/api/v1/platforms/?blocked_in=CN")
    assert "telegram" in {p["slug"] for p in listed}
    assert "wechat" not in {p["slug"] for p in listed}


def test_reported_exchange_ban_keeps_its_status(api):
    body = api.get("/api/v1/regulatory-actions/cn-2017-exchange-ban-reported/").json()
    assert body["status"] == "reported"


def test_wechat_to_telegram_migration(api):
    body = api.get("/api/v1/migrations/?from_platform=wechat&to_platform=telegram").json()
    assert body["count"] >= 1
    migration = body["results"][0]
    assert migration["started"]["precision"] == "month"
    assert "cn-2017-group-chat-rules" in {driver["slug"] for driver in migration["drivers"]}
