"""Regulatory actions, who issued them and what they target."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Concat, Upper

from cryptogroups.choices import (
    ActionStatus,
    ActionType,
    IssuerRole,
    TargetCategory,
    TargetEffect,
)
from cryptogroups.codes import validate_subdivision_code

from .base import (
    CheckedModel,
    Record,
    choice_constraint,
    country_constraint,
    country_field,
    no_self_reference,
    partial_date,
    partial_date_constraints,
    refuse_cycle,
    track_history,
)


class RegulatoryAction(Record):
    """A ban, rule, notice, order, enforcement or block by an authority in a jurisdiction."""

    title = models.CharField(max_length=300, help_text="Short English title.")
    official_title = models.CharField(
        max_length=500, blank=True, help_text="Official English title, if one is cited."
    )
    native_title = models.CharField(
        max_length=300, blank=True, help_text="Title in the original language, if cited."
    )
    document_number = models.CharField(
        max_length=100, blank=True, help_text="Official document number, if cited."
    )
    action_type = models.CharField(
        max_length=16, choices=ActionType.choices, help_text="What kind of action it is."
    )
    status = models.CharField(
        max_length=10,
        choices=ActionStatus.choices,
        help_text="How far the action is known to have gone; 'reported' when only reports of it "
        "exist.",
    )
    status_as_of_date, status_as_of_precision, status_as_of_qualifier = partial_date(
        "status_as_of", what="Date the status was last confirmed"
    )
    jurisdiction = country_field(help_text="Country where the action applies.", required=True)
    subdivision = models.CharField(  # noqa: DJ001 - null means "the whole country"
        max_length=6,
        null=True,
        blank=True,
        validators=[validate_subdivision_code],
        help_text="ISO 3166-2 subdivision (for example CN-SH) when the action is local; "
        "null for the whole country.",
    )
    announced_date, announced_precision, announced_qualifier = partial_date(
        "announced", what="Date the action was announced or reported"
    )
    effective_date, effective_precision, effective_qualifier = partial_date(
        "effective", what="Date the action took effect"
    )
    summary = models.TextField(blank=True, help_text="What the action does, in a few sentences.")
    supersedes = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
        help_text="An earlier action this one replaces, if any.",
    )
    issuers = models.ManyToManyField(
        "cryptogroups.Organization",
        through="ActionIssuer",
        blank=True,
        related_name="actions",
        help_text="The authorities that issued the action.",
    )

    #: The fields of the API representation a citation can name (see Citation.field_name).
    cited_fields = (
        "title",
        "official_title",
        "native_title",
        "document_number",
        "action_type",
        "status",
        "status_as_of",
        "jurisdiction",
        "subdivision",
        "announced",
        "effective",
        "issuers",
        "targets",
        "supersedes",
        "summary",
    )

    history = track_history()

    class Meta:
        ordering = [F("announced_date").asc(nulls_last=True), "slug"]
        constraints = [
            *Record.Meta.constraints,
            choice_constraint("action_type", ActionType),
            choice_constraint("status", ActionStatus),
            country_constraint("jurisdiction"),
            models.CheckConstraint(
                condition=Q(subdivision__isnull=True)
                | Q(
                    subdivision__startswith=Concat(F("jurisdiction"), Value("-")),
                    subdivision=Upper("subdivision"),
                ),
                name="%(app_label)s_%(class)s_subdivision_in_jurisdiction",
            ),
            *partial_date_constraints("status_as_of"),
            *partial_date_constraints("announced"),
            *partial_date_constraints("effective"),
            no_self_reference("supersedes"),
        ]

    def clean(self) -> None:
        super().clean()
        refuse_cycle(self, "supersedes", "an action would supersede itself")


class ActionIssuer(CheckedModel):
    """An authority's part in issuing an action: lead, co-issuer or enforcer."""

    action = models.ForeignKey(
        RegulatoryAction,
        on_delete=models.CASCADE,
        related_name="issuer_links",
        help_text="The action.",
    )
    organization = models.ForeignKey(
        "cryptogroups.Organization",
        on_delete=models.PROTECT,
        related_name="issued_links",
        help_text="The issuing authority.",
    )
    role = models.CharField(
        max_length=9, choices=IssuerRole.choices, help_text="Its part in the action."
    )

    history = track_history()

    class Meta:
        ordering = ["action", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["action", "organization"], name="%(app_label)s_%(class)s_unique"
            ),
            choice_constraint("role", IssuerRole),
        ]

    def __str__(self) -> str:
        return f"{self.organization} ({self.role}) - {self.action}"


class ActionTarget(CheckedModel):
    """What an action applies to: one exchange, one platform, or a category of actors."""

    action = models.ForeignKey(
        RegulatoryAction, on_delete=models.CASCADE, related_name="targets", help_text="The action."
    )
    category = models.CharField(  # noqa: DJ001 - null when a record is targeted
        max_length=23,
        choices=TargetCategory.choices,
        null=True,
        blank=True,
        help_text="The category of actors targeted, when the action names no single record.",
    )
    exchange = models.ForeignKey(
        "cryptogroups.Exchange",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="targeted_by",
        help_text="The exchange targeted, if the action names one.",
    )
    platform = models.ForeignKey(
        "cryptogroups.Platform",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="targeted_by",
        help_text="The platform targeted, if the action names one.",
    )
    effect = models.CharField(
        max_length=19, choices=TargetEffect.choices, help_text="What the action does to the target."
    )
    note = models.CharField(max_length=300, blank=True, help_text="Detail of the effect, if any.")

    history = track_history()

    class Meta:
        ordering = ["action", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(category__isnull=False, exchange__isnull=True, platform__isnull=True)
                | Q(category__isnull=True, exchange__isnull=False, platform__isnull=True)
                | Q(category__isnull=True, exchange__isnull=True, platform__isnull=False),
                name="%(app_label)s_%(class)s_exactly_one_target",
            ),
            choice_constraint("category", TargetCategory),
            choice_constraint("effect", TargetEffect),
        ]

    def __str__(self) -> str:
        target = self.exchange or self.platform or self.get_category_display()
        return f"{self.action} → {target}: {self.get_effect_display()}"
