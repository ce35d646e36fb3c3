"""The curators' admin: every model, searchable and filterable, with citations inline."""

from __future__ import annotations

from dataclasses import dataclass, field

from django import forms
from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline
from django.contrib.contenttypes.forms import BaseGenericInlineFormSet
from django.contrib.contenttypes.prefetch import GenericPrefetch
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models as db_models
from django.db.models import Count, F, Q
from django.forms.utils import pretty_name
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from simple_history.admin import SimpleHistoryAdmin

from . import models
from .choices import PublicationStatus, SourceText, Support
from .dataset import CITED_MODELS
from .models.sources import refuse_uncited_publication, validate_cited_field
from .resources import RESOURCES

admin.site.index_template = "admin/cryptogroups_index.html"
admin.site.site_header = "cryptogroups curation"
admin.site.site_title = "cryptogroups curation"
admin.site.index_title = "The dataset"


class ChangeReasonForm(forms.ModelForm):
    """Every save in the admin says why, and the reason is kept in the record's history."""

    change_reason = forms.CharField(
        max_length=100,
        label="Reason for this change",
        help_text="Kept in the history with your name and the time, for example "
        "'Add the effective date from the CAC translation'.",
    )


@dataclass(frozen=True)
class FormError:
    """One error of a failed save, as the summary at the top of the change form lists it."""

    #: Where it is: the field's label ("Name"), the inline row ("Citations, row 2") and the
    #: field in it ("Citations, row 2: Quote"); empty for an error of the record as a whole.
    where: str
    message: str
    #: The id of the field's widget, or of the row, that the summary links to.
    anchor: str


def error_summary(form, inline_admin_formsets) -> list[FormError]:
    """Every error of a change form and of its inlines, in the order of the page."""
    errors = list(form_errors(form, where="", anchor=""))
    for inline_admin_formset in inline_admin_formsets:
        formset = inline_admin_formset.formset
        name = capfirst(inline_admin_formset.opts.verbose_name_plural)
        errors.extend(
            FormError(name, message, f"{formset.prefix}-group")
            for message in formset.non_form_errors()
        )
        for number, row in enumerate(formset.forms, start=1):
            if formset.can_delete and formset._should_delete_form(row):
                continue  # a row marked for deletion is not saved: its errors do not count
            errors.extend(
                form_errors(
                    row, where=f"{name}, row {number}", anchor=f"{formset.prefix}-{number - 1}"
                )
            )
    return errors


def form_errors(form, *, where: str, anchor: str):
    """The errors of one form: those of the form as a whole first, then each field's, in the
    order of the fields."""
    for message in form.errors.get(NON_FIELD_ERRORS, []):
        yield FormError(where, message, anchor)
    for bound in form:
        label = bound.label or pretty_name(bound.name)
        for message in bound.errors:
            yield FormError(
                f"{where}: {label}" if where else label, message, bound.auto_id or anchor
            )


class BaseAdmin(SimpleHistoryAdmin):
    """History with field-level changes; each save asks for a reason, also for inline rows."""

    form = ChangeReasonForm
    formfield_overrides = {db_models.URLField: {"assume_scheme": "https"}}

    class Media:
        css = {"all": ["cryptogroups/admin.css"]}

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # A failed save lists what is wrong at the top of the page, each error under the name
        # of its field, or of the inline row it is in (Django's own note only counts them).
        if context.get("errors"):
            context["error_summary"] = error_summary(
                context["adminform"].form, context["inline_admin_formsets"]
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change) -> None:
        obj._change_reason = form.cleaned_data["change_reason"]
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        # The many-to-many fields are saved after the record; their history entry needs the
        # reason too.
        form.instance._change_reason = form.cleaned_data["change_reason"]
        super().save_related(request, form, formsets, change)

    def save_formset(self, request, form, formset, change) -> None:
        reason = form.cleaned_data["change_reason"]
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            obj._change_reason = reason
            obj.delete()
        for obj in instances:
            obj._change_reason = reason
            obj.save()
        formset.save_m2m()


class CitationFormSet(BaseGenericInlineFormSet):
    """Checks each citation's field against the record it cites. The citation's own clean()
    cannot: the formset sets the citation's content type only when saving."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Each row is labelled with its citation's name, which names the cited record: the
        # record is this page's, so it is not read again for every row.
        if self.instance.pk is not None:
            for form in self.initial_forms:
                form.instance.record = self.instance

    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            if not form.has_changed() or not hasattr(form, "cleaned_data"):
                continue
            try:
                validate_cited_field(type(self.instance), form.cleaned_data.get("field_name"))
            except ValidationError as error:
                form.add_error(None, error)
        if getattr(self.instance, "publication_status", None) == PublicationStatus.PUBLISHED:
            kept = [
                form
                for form in self.forms
                if getattr(form, "cleaned_data", None)
                and not form.cleaned_data.get("DELETE")
                and (form.instance.pk or form.has_changed())
            ]
            if not kept:
                raise ValidationError(
                    "A record cannot be published without at least one citation: add one, or "
                    "keep the record as a draft."
                )


CITATION_FIELDS = [
    "source",
    "field_name",
    "quote",
    "verbatim",
    "support",
    "locator",
    "note",
    "checked_on",
    "source_text",
]


#: The outcome of a citation's check in a few words ("Read", "Not found"), for the narrow
#: column of the citations inline; the column's help text says what each means.
SHORT_SOURCE_TEXT = [
    ("", "(unchecked)"),
    *((value, label.split(":")[0]) for value, label in SourceText.choices),
]


class CitationForm(forms.ModelForm):
    """A citation as curators edit it: the quote and note as readable text areas."""

    class Meta:
        model = models.Citation
        fields = CITATION_FIELDS
        widgets = {
            "quote": forms.Textarea(attrs={"rows": 4, "cols": 40}),
            "note": forms.Textarea(attrs={"rows": 3, "cols": 30}),
            "locator": forms.TextInput(attrs={"size": 10}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "source_text" in self.fields:
            self.fields["source_text"].choices = SHORT_SOURCE_TEXT


def cited_field_choice(model) -> forms.TypedChoiceField:
    """``field_name`` as a choice among the record's API fields (empty: the whole record)."""
    return forms.TypedChoiceField(
        choices=[("", "(the whole record)"), *((name, name) for name in model.cited_fields)],
        required=False,
        empty_value=None,
        label="Field",
        help_text="The field of the record's API representation the quote supports.",
    )


def cited_field_choice_by_model(first=None) -> forms.TypedChoiceField:
    """``field_name`` where the kind of record is not known yet (or may change): the API
    fields of every kind of record, grouped by kind, ``first``'s group first. The citation's
    own validation checks the field against the record it points at."""
    kinds = sorted(CITED_MODELS, key=lambda model: model is not first)
    return forms.TypedChoiceField(
        choices=[
            ("", "(the whole record)"),
            *(
                (capfirst(model._meta.verbose_name), [(name, name) for name in model.cited_fields])
                for model in kinds
            ),
        ],
        required=False,
        empty_value=None,
        label="Field",
        help_text="The field of the cited record's API representation the quote supports.",
    )


class CitationInline(GenericTabularInline):
    """A record's citations, one row each. The row fits the page: each line of ``fields`` is
    one cell of the table, the quote the widest (the template is Django's tabular inline with
    that change)."""

    model = models.Citation
    form = CitationForm
    formset = CitationFormSet
    template = "admin/cryptogroups/edit_inline/citations.html"
    extra = 0
    fields = [
        ("source", "field_name"),
        ("quote",),
        ("support", "verbatim"),
        ("note", "locator"),
        ("checked_on", "source_text"),
    ]
    #: The cells of a row: the row's label, a cell per line of ``fields``, the delete box.
    row_cells = len(fields) + 2
    classes = ["citations"]
    autocomplete_fields = ["source"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("source")

    def get_formset(self, request, obj=None, **kwargs):
        form = type(
            "CitationForm",
            (CitationForm,),
            {"field_name": cited_field_choice(self.parent_model), "__module__": __name__},
        )
        return super().get_formset(request, obj, form=form, **kwargs)


class CitationCountFilter(admin.SimpleListFilter):
    title = "citations"
    parameter_name = "cited"

    def lookups(self, request, model_admin):
        return [("yes", "With citations"), ("no", "Without citations")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(citation_count__gt=0)
        if self.value() == "no":
            return queryset.filter(citation_count=0)
        return queryset


class CitedAdmin(BaseAdmin):
    """A record in the publishing workflow, with citations edited inline and counted in the
    list, bulk publish and retract, and a link to the record in the API."""

    inlines = [CitationInline]
    readonly_fields = ["api_link", "created_at", "updated_at"]
    prepopulated_fields = {"slug": ("name",)}
    actions = ["publish", "retract"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).annotate(citation_count=Count("citations"))
        # A GROUP BY drops the model's default ordering: the autocomplete pages what it gets,
        # and an unordered page may repeat or skip records. The change list orders its own.
        return queryset.order_by(*(self.get_ordering(request) or queryset.model._meta.ordering))

    def get_list_display(self, request):
        return [*super().get_list_display(request), "publication_status", "api_link"]

    def get_list_filter(self, request):
        return ["publication_status", CitationCountFilter, *super().get_list_filter(request)]

    @admin.display(description="citations", ordering="citation_count")
    def citations_count(self, obj) -> int:
        return obj.citation_count

    @admin.display(description="API")
    def api_link(self, obj) -> str:
        if obj.pk is None or obj.publication_status != PublicationStatus.PUBLISHED:
            return "not public"
        url = reverse(f"{api_basename(type(obj))}-detail", kwargs={"slug": obj.slug})
        return format_html('<a href="{}">view in API</a>', url)

    @admin.action(description="Publish the selected records (each needs a citation)")
    def publish(self, request, queryset) -> None:
        uncited = [record.slug for record in queryset if record.citation_count == 0]
        if uncited:
            self.message_user(
                request,
                "Not published, for want of a citation: " + ", ".join(uncited),
                messages.ERROR,
            )
        cited = queryset.filter(citation_count__gt=0)
        self.set_status(request, cited, PublicationStatus.PUBLISHED, "Published from the list")

    @admin.action(description="Retract the selected records (kept, with their history)")
    def retract(self, request, queryset) -> None:
        self.set_status(request, queryset, PublicationStatus.RETRACTED, "Retracted from the list")

    def set_status(self, request, queryset, status: str, reason: str) -> None:
        changed = 0
        for record in queryset.exclude(publication_status=status):
            record.publication_status = status
            record._change_reason = reason
            record.save(update_fields=["publication_status", "updated_at"])
            changed += 1
        if changed:
            self.message_user(request, f"{changed} record(s) now {status}.", messages.SUCCESS)


def api_basename(model) -> str:
    """The API route name of a model's resource ('regulatory-action' for RegulatoryAction)."""
    try:
        return RESOURCES[model].basename
    except KeyError:
        raise LookupError(f"{model.__name__} has no API resource") from None


@admin.register(models.Source)
class SourceAdmin(BaseAdmin):
    list_display = ["title", "publisher", "source_type", "language", "published_date", "slug"]
    list_filter = ["source_type", "language", "publisher"]
    search_fields = ["title", "publisher", "author", "url", "slug"]
    autocomplete_fields = ["syndicated_from"]
    readonly_fields = ["created_at", "updated_at"]
    prepopulated_fields = {"slug": ("title",)}


@admin.register(models.Citation)
class CitationAdmin(BaseAdmin):
    list_display = [
        "id",
        "source",
        "content_type",
        "object_id",
        "field_name",
        "support",
        "verbatim",
        "source_text",
        "checked_on",
    ]
    list_filter = ["support", "verbatim", "source_text", "content_type"]
    list_select_related = ["source", "content_type"]
    search_fields = ["quote", "note", "source__title"]
    autocomplete_fields = ["source"]
    fields = [
        "cited_record",
        "content_type",
        "object_id",
        "field_name",
        "source",
        "quote",
        "verbatim",
        "support",
        "locator",
        "note",
        "checked_on",
        "source_text",
        "change_reason",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["cited_record", "created_at", "updated_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "field_name" in form.base_fields:  # not for a curator who may only view it
            model = obj.content_type.model_class() if obj is not None else None
            form.base_fields["field_name"] = cited_field_choice_by_model(first=model)
        return form

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "quote":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 4, "cols": 60})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="Cited record")
    def cited_record(self, obj) -> str:
        record = obj.record if obj.content_type_id else None
        if record is None:
            return "-"
        opts = record._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[record.pk])
        return format_html('<a href="{}">{}: {}</a>', url, capfirst(opts.verbose_name), record)

    def get_deleted_objects(self, objs, request):
        """A published record's last citation is protected: the delete page says so and
        refuses, as it does for any protected object."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        protected = list(protected)
        going: dict[tuple[int, int], list[int]] = {}
        for citation in objs:
            going.setdefault((citation.content_type_id, citation.object_id), []).append(citation.pk)
        for (content_type_id, object_id), pks in going.items():
            try:
                refuse_uncited_publication(content_type_id, object_id, without=pks)
            except ValidationError as error:
                protected.extend(error.messages)
        return deleted, counts, perms_needed, protected

    def delete_queryset(self, request, queryset) -> None:
        # One by one, so that each deletion goes through the model's own rule.
        for citation in queryset:
            citation.delete()


@admin.register(models.Organization)
class OrganizationAdmin(CitedAdmin):
    list_display = ["name", "org_type", "country", "slug", "citations_count"]
    list_filter = ["org_type", "country"]
    search_fields = ["name", "native_name", "slug"]
    autocomplete_fields = ["parent"]


class PlatformAvailabilityInline(admin.TabularInline):
    model = models.PlatformAvailability
    extra = 0
    fields = ["slug", "jurisdiction", "status", "since_date", "since_precision", "since_qualifier"]
    show_change_link = True


@admin.register(models.Platform)
class PlatformAdmin(CitedAdmin):
    list_display = ["name", "platform_type", "operator", "encryption", "slug", "citations_count"]
    list_filter = ["platform_type", "encryption"]
    list_select_related = ["operator"]
    search_fields = ["name", "slug"]
    autocomplete_fields = ["operator"]
    inlines = [PlatformAvailabilityInline, CitationInline]


@admin.register(models.PlatformAvailability)
class PlatformAvailabilityAdmin(CitedAdmin):
    list_display = [
        "platform",
        "jurisdiction",
        "status",
        "since_date",
        "until_date",
        "slug",
        "citations_count",
    ]
    list_filter = ["status", "jurisdiction", "platform"]
    list_select_related = ["platform"]
    search_fields = ["platform__name", "slug", "workaround"]
    autocomplete_fields = ["platform"]
    prepopulated_fields = {}


class ExchangeResponseInline(admin.TabularInline):
    model = models.ExchangeResponse
    extra = 0
    fields = [
        "slug",
        "response_type",
        "effective_date",
        "effective_precision",
        "effective_qualifier",
    ]
    show_change_link = True


@admin.register(models.Exchange)
class ExchangeAdmin(CitedAdmin):
    list_display = ["name", "exchange_type", "country", "status", "slug", "citations_count"]
    list_filter = ["exchange_type", "status", "country"]
    search_fields = ["name", "native_name", "slug", "city"]
    autocomplete_fields = ["operator"]
    inlines = [ExchangeResponseInline, CitationInline]


@admin.register(models.ExchangeResponse)
class ExchangeResponseAdmin(CitedAdmin):
    list_display = [
        "exchange",
        "response_type",
        "announced_date",
        "effective_date",
        "slug",
        "citations_count",
    ]
    list_filter = ["response_type", "exchange"]
    list_select_related = ["exchange"]
    search_fields = ["exchange__name", "slug", "description"]
    autocomplete_fields = ["exchange", "actions"]
    prepopulated_fields = {}
    date_hierarchy = "effective_date"


class GroupExchangeInline(admin.TabularInline):
    model = models.GroupExchange
    extra = 0
    autocomplete_fields = ["exchange"]


@admin.register(models.Group)
class GroupAdmin(CitedAdmin):
    list_display = [
        "name",
        "platform",
        "group_type",
        "language",
        "member_count",
        "status",
        "slug",
        "citations_count",
    ]
    list_filter = ["platform", "group_type", "status", "is_aggregate", "language"]
    list_select_related = ["platform"]
    search_fields = ["name", "slug", "description"]
    autocomplete_fields = ["platform"]
    inlines = [GroupExchangeInline, CitationInline]


@admin.register(models.Migration)
class MigrationAdmin(CitedAdmin):
    list_display = [
        "title",
        "from_platform",
        "to_platform",
        "started_date",
        "slug",
        "citations_count",
    ]
    list_filter = ["from_platform", "to_platform"]
    list_select_related = ["from_platform", "to_platform"]
    search_fields = ["title", "slug", "description"]
    autocomplete_fields = ["from_platform", "to_platform", "from_group", "to_group", "drivers"]
    prepopulated_fields = {"slug": ("title",)}


class ActionIssuerInline(admin.TabularInline):
    model = models.ActionIssuer
    extra = 0
    autocomplete_fields = ["organization"]


class ActionTargetInline(admin.TabularInline):
    model = models.ActionTarget
    extra = 0
    autocomplete_fields = ["exchange", "platform"]


@admin.register(models.RegulatoryAction)
class RegulatoryActionAdmin(CitedAdmin):
    list_display = [
        "title",
        "action_type",
        "status",
        "jurisdiction",
        "subdivision",
        "announced_date",
        "slug",
        "citations_count",
    ]
    list_filter = ["action_type", "status", "jurisdiction"]
    search_fields = ["title", "official_title", "native_title", "document_number", "slug"]
    autocomplete_fields = ["supersedes"]
    prepopulated_fields = {"slug": ("title",)}
    date_hierarchy = "announced_date"
    inlines = [ActionIssuerInline, ActionTargetInline, CitationInline]


@admin.register(models.GroupExchange)
class GroupExchangeAdmin(BaseAdmin):
    list_display = ["group", "exchange", "affiliation"]
    list_filter = ["affiliation"]
    list_select_related = ["group", "exchange"]
    search_fields = ["group__name", "exchange__name"]
    autocomplete_fields = ["group", "exchange"]


@admin.register(models.ActionIssuer)
class ActionIssuerAdmin(BaseAdmin):
    list_display = ["action", "organization", "role"]
    list_filter = ["role"]
    list_select_related = ["action", "organization"]
    search_fields = ["action__title", "organization__name"]
    autocomplete_fields = ["action", "organization"]


@admin.register(models.ActionTarget)
class ActionTargetAdmin(BaseAdmin):
    list_display = ["action", "category", "exchange", "platform", "effect"]
    list_filter = ["category", "effect"]
    list_select_related = ["action", "exchange", "platform"]
    search_fields = ["action__title", "note"]
    autocomplete_fields = ["action", "exchange", "platform"]


@admin.register(models.Takedown)
class TakedownAdmin(admin.ModelAdmin):
    """The record of every takedown: which resource and slug, who, when and why. Takedowns are
    made through the API (``POST .../<slug>/takedown/``), never edited, and never deleted: the
    list is read-only for everyone, superusers included."""

    list_display = ["resource", "slug", "taken_by", "taken_at", "reason"]
    list_filter = ["resource"]
    list_select_related = ["taken_by"]
    search_fields = ["resource", "slug", "reason"]
    date_hierarchy = "taken_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- the curators' start page ---------------------------------------------------------------

#: What the name of a record needs besides its own row: these kinds are named after the
#: record they belong to ("Telegram in CN: Blocked").
NAMED_WITH: dict[type[db_models.Model], tuple[str, ...]] = {
    models.PlatformAvailability: ("platform",),
    models.ExchangeResponse: ("exchange",),
}

#: How many items each list of the start page shows; its count says how many there are.
REVIEW_SHOWN = 100


@dataclass(frozen=True)
class ReviewItem:
    label: str
    url: str
    detail: str = ""


@dataclass
class ReviewSection:
    """One list of the start page: what waits for curators, and how many of them."""

    key: str
    title: str
    description: str
    count: int = 0
    items: list[ReviewItem] = field(default_factory=list)

    def add(self, item: ReviewItem) -> None:
        self.count += 1
        if len(self.items) < REVIEW_SHOWN:
            self.items.append(item)

    @property
    def more(self) -> int:
        return self.count - len(self.items)


def change_url(record: db_models.Model) -> str:
    opts = record._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[record.pk])


def can_view(request, model: type[db_models.Model]) -> bool:
    return admin.site.get_model_admin(model).has_view_or_change_permission(request)


def named(model: type[db_models.Model]) -> db_models.QuerySet:
    """The records of a model with what their names need."""
    related = NAMED_WITH.get(model)
    # select_related() without names would follow every foreign key.
    return (
        model._default_manager.select_related(*related) if related else model._default_manager.all()
    )


def review_queue(request) -> list[ReviewSection]:
    """What waits for curators, each item linked to its change page: drafts to review, records
    whose every citation only implies them, citations never checked against their source, and
    sources the data audit finds missing metadata. Only what the user may see; a bounded
    number of queries however many there are: one per kind of record, and a few more."""
    from .audit import source_findings

    drafts = ReviewSection(
        "drafts",
        "Drafts waiting for review",
        "Records not yet published: check them and their citations, then publish them.",
    )
    implied = ReviewSection(
        "implied",
        "Supported only by implication",
        "Records whose every citation only implies them: find a source that states them.",
    )
    unchecked = ReviewSection(
        "unchecked",
        "Unchecked citations",
        "Citations never checked against their source's text.",
    )
    sources = ReviewSection(
        "sources",
        "Sources missing metadata",
        "Sources without their publisher, language or publication date, or syndicated copies "
        "that do not say what they reprint (as the data audit reports them).",
    )
    sections = []
    viewable = [model for model in CITED_MODELS if can_view(request, model)]
    if viewable:
        sections += [drafts, implied]
    for model in viewable:
        records = (
            named(model)
            .annotate(
                cited=Count("citations"),
                implied=Count("citations", filter=Q(citations__support=Support.IMPLIED)),
            )
            .filter(
                Q(publication_status=PublicationStatus.DRAFT) | Q(cited__gt=0, implied=F("cited"))
            )
            # Counting groups the rows, which drops the model's default ordering.
            .order_by(*model._meta.ordering, "pk")
        )
        kind = capfirst(model._meta.verbose_name)
        for record in records:
            item = ReviewItem(f"{kind}: {record}", change_url(record))
            if record.publication_status == PublicationStatus.DRAFT:
                drafts.add(item)
            if record.cited and record.implied == record.cited:
                implied.add(item)
    if can_view(request, models.Citation):
        sections.append(unchecked)
        pending = models.Citation.objects.filter(checked_on__isnull=True)
        unchecked.count = pending.count()
        shown = (
            pending.select_related("source")
            .prefetch_related(GenericPrefetch("record", [named(model) for model in CITED_MODELS]))
            .order_by("pk")[:REVIEW_SHOWN]
        )
        unchecked.items = [ReviewItem(str(citation), change_url(citation)) for citation in shown]
    if can_view(request, models.Source):
        sections.append(sources)
        missing = {
            finding.subject.removeprefix("source "): finding.detail for finding in source_findings()
        }
        sources.count = len(missing)
        shown = models.Source.objects.filter(slug__in=list(missing)[:REVIEW_SHOWN])
        sources.items = [
            ReviewItem(str(source), change_url(source), missing[source.slug])
            for source in shown.order_by("slug")
        ]
    return sections


def curation_index(request, extra_context=None):
    """The admin's index is the curators' start page: what waits for them, above the models."""
    context = {"review_queue": review_queue(request), **(extra_context or {})}
    return admin.AdminSite.index(admin.site, request, context)


# The default site is kept (the project registers everything on it); its index view gets the
# start page's lists. The URLs, built when the URL configuration is first read, use this view.
admin.site.index = curation_index


def audit_view(request):
    """The data audit (cryptogroups.audit), as ``manage.py audit_dataset`` prints it, for
    curators: what to fix before the data can be trusted."""
    from collections import Counter

    from django.template.response import TemplateResponse

    from .audit import KINDS, audit

    findings = audit()
    counts = Counter(finding.kind for finding in findings)
    sections = [
        (kind, [f for f in findings if f.kind == kind]) for kind in KINDS if counts.get(kind)
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Data audit",
        "findings": findings,
        "counts": [(kind, counts.get(kind, 0)) for kind in KINDS],
        "sections": sections,
    }
    return TemplateResponse(request, "admin/audit.html", context)
