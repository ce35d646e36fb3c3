"""Exchanges and what they did in response to regulatory actions."""

from __future__ import annotations

from django.db import models
from django.db.models import F

from cryptogroups.choices import ExchangeStatus, ExchangeType, ResponseType

from .base import (
    Record,
    choice_constraint,
    country_constraint,
    country_field,
    partial_date,
    partial_date_constraints,
    track_history,
)
from .organizations import wikidata_constraint, wikidata_field


class Exchange(Record):
    """A venue for trading crypto-currency: a spot exchange, an OTC desk, a P2P market."""

    name = models.CharField(max_length=100, help_text="Name the exchange traded under.")
    native_name = models.CharField(
        max_length=100, blank=True, help_text="Name in its home language, if known."
    )
    exchange_type = models.CharField(
        max_length=11, choices=ExchangeType.choices, help_text="What kind of venue it is."
    )
    operator = models.ForeignKey(
        "cryptogroups.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="exchanges",
        help_text="The company that runs it, if cited.",
    )
    country = country_field(help_text="Country where it is based.")
    city = models.CharField(
        max_length=100, blank=True, help_text="City where it is based, if cited."
    )
    founded_date, founded_precision, founded_qualifier = partial_date(
        "founded", what="Founding date"
    )
    status = models.CharField(
        max_length=19,
        choices=ExchangeStatus.choices,
        default=ExchangeStatus.UNKNOWN,
        help_text="Operating status as of the status date.",
    )
    status_as_of_date, status_as_of_precision, status_as_of_qualifier = partial_date(
        "status_as_of", what="Date the status was last confirmed"
    )
    website = models.URLField(max_length=300, blank=True, help_text="Official website, if cited.")
    coingecko_id = models.CharField(
        max_length=100,
        null=True,
        blank=True,
        unique=True,
        help_text="CoinGecko exchange id, when it has been checked; null otherwise.",
    )
    wikidata_qid = wikidata_field()
    description = models.TextField(blank=True, help_text="A short, cited description.")

    #: The fields of the API representation a citation can name (see Citation.field_name).
    cited_fields = (
        "name",
        "native_name",
        "exchange_type",
        "operator",
        "country",
        "city",
        "founded",
        "status",
        "status_as_of",
        "website",
        "coingecko_id",
        "wikidata_qid",
        "description",
    )

    history = track_history()

    class Meta:
        ordering = ["name", "slug"]
        constraints = [
            *Record.Meta.constraints,
            choice_constraint("exchange_type", ExchangeType),
            choice_constraint("status", ExchangeStatus),
            country_constraint("country"),
            wikidata_constraint(),
            *partial_date_constraints("founded"),
            *partial_date_constraints("status_as_of"),
        ]


class ExchangeResponse(Record):
    """Something an exchange did in answer to regulation: halt trading, suspend OTC, close."""

    exchange = models.ForeignKey(
        Exchange,
        on_delete=models.PROTECT,
        related_name="responses",
        help_text="The exchange that responded.",
    )
    response_type = models.CharField(
        max_length=18, choices=ResponseType.choices, help_text="What the exchange did."
    )
    actions = models.ManyToManyField(
        "cryptogroups.RegulatoryAction",
        blank=True,
        related_name="responses",
        help_text="The regulatory actions this was a response to (see the citations for whether "
        "the sources state or only imply the link).",
    )
    jurisdiction = country_field(help_text="Where the response applies (its scope).")
    announced_date, announced_precision, announced_qualifier = partial_date(
        "announced", what="Date the exchange announced it"
    )
    effective_date, effective_precision, effective_qualifier = partial_date(
        "effective", what="Date it took effect"
    )
    description = models.TextField(blank=True, help_text="A short, cited description.")

    #: The fields of the API representation a citation can name (see Citation.field_name).
    cited_fields = (
        "exchange",
        "response_type",
        "actions",
        "jurisdiction",
        "announced",
        "effective",
        "description",
    )

    history = track_history(m2m_fields=["actions"])

    class Meta:
        ordering = [F("effective_date").asc(nulls_last=True), "slug"]
        constraints = [
            *Record.Meta.constraints,
            choice_constraint("response_type", ResponseType),
            country_constraint("jurisdiction"),
            *partial_date_constraints("announced"),
            *partial_date_constraints("effective"),
        ]

    def __str__(self) -> str:
        return f"{self.exchange}: {self.get_response_type_display()}"
