"""Pagination that refuses what it cannot honour instead of guessing: page numbers, and cursors
for crawling.

``page_size`` defaults to 20 and may be set from 1 to 100 (``MAX_PAGE_SIZE``); outside that
range, or when it is not a whole number, the answer is a 400 naming the parameter. ``page`` is a
whole number from 1; a malformed page is a 400 and a page past the last one is a 404.

A page by number is read from the list's index: deep in a list, from the nearest waypoint
before it (``WAYPOINT_STRIDE``); in a searched list, from the keys of its matches, kept in order
(``KEPT_SLICE``). Both are found once and kept, like the list's count, until a change to a
field they read (``api.depends``): never used for another state of the list's order.

A list read with ``cursor`` is paged by key instead (keyset pagination): ``cursor=start`` is
the first page, and the ``next`` and ``previous`` links carry an opaque cursor that holds the
sort keys of the page's last (or first) record. A page is then found by seeking in the list's
index from that key, as fast at the millionth record as at the first, and a record added or
removed elsewhere in the list never shifts the pages after it. The envelope is the same:
``count`` (exact, for the whole list), ``next``, ``previous``, ``results``. Cursors are
signed: one the server did not give, or made for another ``ordering``, is a 400.
"""

from __future__ import annotations

import datetime
import re

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import InvalidPage
from django.core.paginator import Paginator as DjangoPaginator
from django.db.models import F, OrderBy, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.utils.functional import cached_property
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from . import cache as api_cache
from .filters import searched

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

_WHOLE_NUMBER = re.compile(r"[1-9][0-9]{0,8}")
MAX_PAGE = 999_999_999


#: A deep page by number is read from the nearest record before it whose position is a multiple
#: of this: at most this many index entries are skipped, however deep the page.
WAYPOINT_STRIDE = 1000

#: A searched list's matches are found by the search's indexes, in no useful order, so a page
#: cannot be sought in the list's index: the keys of all its matches, in the list's order, are
#: kept beside its count instead (found in the pass that counts them), in slices of this many,
#: when there are at most ``MAX_KEPT_MATCHES``. A page then reads one or two slices.
KEPT_SLICE = 1000
MAX_KEPT_MATCHES = 200_000


class CachedCountPaginator(DjangoPaginator):
    """Django's paginator, with the count kept in the cache under the list's filters and the
    last change to the fields they read (``count_key``, see api.depends): every page of a list
    shares it, and counting a large table is done again only when a change may alter it."""

    count_key: str | None = None
    #: Where the list's positions (its waypoints, a search's matches) are kept: like the
    #: count, and by the fields of its order too (api.depends).
    positions_key: str | None = None

    def page(self, number):
        """A page of rows. The page's primary keys are found first, in a subquery that an
        index can answer alone (see the indexes of Group), and only those rows are read: a
        deep page then skips index entries, not whole rows, and fewer than
        ``WAYPOINT_STRIDE`` of them (see ``seek``). A searched list's page takes its keys from
        the kept matches (see ``kept``)."""
        page = super().page(number)
        rows = self.object_list
        if isinstance(rows, QuerySet) and rows.query.values_select and not rows.query.distinct:
            bottom = (page.number - 1) * self.per_page
            kept = self.kept(bottom, bottom + self.per_page) if self.searched else None
            if kept is not None:
                page.object_list = rows.filter(pk__in=kept)
            else:
                sections, skip = self.seek(bottom)

                def read(section: QuerySet, start: int, stop: int) -> QuerySet:
                    return rows.filter(pk__in=Subquery(section.values("pk")[start:stop]))

                if len(sections) == 1:
                    page.object_list = read(sections[0], skip, skip + self.per_page)
                else:
                    page.object_list = read_past(
                        sections, skip, self.per_page, lambda *bounds: list(read(*bounds))
                    )
        return page

    def seek(self, bottom: int) -> tuple[list[QuerySet], int]:
        """The records to read a page from, and how many of them to skip to its first: the
        list itself, or, deep in a list, the records past the nearest waypoint before the page
        (found in the index by key, like a cursor's, in one or two sections: see ``keyset``)."""
        passed = bottom // WAYPOINT_STRIDE
        waypoints = self.waypoints() if passed else None
        if not waypoints or len(waypoints) < passed:
            return [self.keys], bottom
        terms = ordering_terms(self.keys)
        past = keyset(self.keys.model, terms, waypoints[passed - 1], backwards=False)
        return [self.keys.filter(section) for section in past], bottom - passed * WAYPOINT_STRIDE

    def waypoints(self) -> list[tuple] | None:
        """The sort keys of every ``WAYPOINT_STRIDE``-th record of the list (the first is the
        ``WAYPOINT_STRIDE``-th record's), found in one pass over the list's index and kept
        beside the count, under the same version and filters, and the order; None when the
        count is not kept or the cache does not answer (nothing would keep them)."""
        keys = self.keys
        counted = api_cache.enabled(settings.API_COUNT_CACHE_SECONDS)
        if not counted or self.positions_key is None or not keys.query.order_by:
            return None
        names = [name for name, _ in ordering_terms(keys)]

        def find() -> list[tuple]:
            numbered = keys.annotate(
                _position=Window(RowNumber(), order_by=list(keys.query.order_by))
            ).annotate(_past_stride=F("_position") % WAYPOINT_STRIDE)
            # In the list's own order, which the index gives: no sort of the numbered rows.
            marks = numbered.filter(_past_stride=0).values_list(*names)
            return [tuple(row) for row in marks]

        return api_cache.get_or_keep(
            f"{self.positions_key}:waypoints:{WAYPOINT_STRIDE}",
            find,
            settings.API_COUNT_CACHE_SECONDS,
        )

    #: Whether the list is searched (``search=`` with a word): see ``KEPT_SLICE``.
    searched = False

    @property
    def keeps_matches(self) -> bool:
        return (
            self.searched
            and self.count_key is not None
            and self.positions_key is not None
            and api_cache.enabled(settings.API_COUNT_CACHE_SECONDS)
            and bool(self.keys.query.order_by)
        )

    @property
    def kept_prefix(self) -> str:
        """Where a searched list's matches are kept: with its positions (for its order)."""
        return f"{self.positions_key}:kept:{KEPT_SLICE}"

    #: The matches found by this request (see ``keep_matches``), if it found them.
    found_matches: list[int] | None = None

    def keep_matches(self) -> int:
        """Count a searched list by finding its matches' keys in order (at most
        ``MAX_KEPT_MATCHES`` + 1, which says there are more), and keep the count and, when they
        are all there, the keys in slices, in one call to the cache."""
        found = list(self.keys.values_list("pk", flat=True)[: MAX_KEPT_MATCHES + 1])
        entries = {}
        if len(found) <= MAX_KEPT_MATCHES:
            self.found_matches, total = found, len(found)
            for number in range(max(1, -(-total // KEPT_SLICE))):
                bottom = number * KEPT_SLICE
                entries[f"{self.kept_prefix}:{number}"] = found[bottom : bottom + KEPT_SLICE]
        else:
            total = self.counted()
        entries[self.count_key] = total
        api_cache.set_many(entries, settings.API_COUNT_CACHE_SECONDS)
        return total

    def kept(self, start: int, stop: int) -> list[int] | None:
        """The keys of the records from ``start`` to ``stop`` (positions from 0) of a searched
        list, from its kept matches (found again if the cache has dropped them); None when
        they are not kept (too many, no count kept, or the cache does not answer)."""
        if not self.keeps_matches or self.count > MAX_KEPT_MATCHES:
            return None
        if self.found_matches is None:
            first, last = start // KEPT_SLICE, (stop - 1) // KEPT_SLICE
            names = [f"{self.kept_prefix}:{number}" for number in range(first, last + 1)]
            found = api_cache.get_many(names, settings.API_COUNT_CACHE_SECONDS)
            if found is None:
                return None
            if len(found) == len(names):
                keys = [key for name in names for key in found[name]]
                return keys[start - first * KEPT_SLICE : stop - first * KEPT_SLICE]
            self.keep_matches()
        return self.found_matches[start:stop] if self.found_matches is not None else None

    @property
    def keys(self) -> QuerySet:
        """The records in order, without the joins the page's columns need: those would keep
        the database from answering from an index alone."""
        return self.records if self.records is not None else self.object_list

    #: The filtered, ordered records the rows are read from (set by the view), if known.
    records: QuerySet | None = None

    @cached_property
    def count(self) -> int:
        if self.count_key is None:
            return self.counted()
        seconds = settings.API_COUNT_CACHE_SECONDS
        found = api_cache.get(self.count_key, seconds)
        if found is not None:
            return found
        if self.keeps_matches:
            return self.keep_matches()
        found = self.counted()
        api_cache.set(self.count_key, found, seconds)
        return found

    def counted(self) -> int:
        """The list's count, from the database."""
        if self.records is None:
            return DjangoPaginator.count.func(self)
        return self.records.count()


# --- Cursors ---------------------------------------------------------------------------------

CURSOR_PARAMETER = "cursor"
#: The cursor of a list's first page.
START = "start"
#: What a cursor looks like (a signed, compressed payload), and its longest form.
CURSOR_PATTERN = r"^[A-Za-z0-9_:.-]+$"
CURSOR_MAX_LENGTH = 1000
_CURSOR_SALT = "api.pagination.cursor"
_CURSOR_SHAPE = re.compile(CURSOR_PATTERN)

#: A sort term: the field's name and whether it is descending (empty values always last).
Term = tuple[str, bool]


def ordering_terms(queryset: QuerySet) -> list[Term]:
    """The sort terms of an ordered queryset, as the list's ordering filter set them."""
    terms = []
    for item in queryset.query.order_by:
        if isinstance(item, OrderBy) and isinstance(item.expression, F):
            terms.append((item.expression.name, item.descending))
        elif isinstance(item, str):
            terms.append((item.removeprefix("-"), item.startswith("-")))
        else:  # pragma: no cover - lists are ordered by fields only
            raise TypeError(f"Cannot page by key through the order {item!r}.")
    return terms


def reverse_terms(terms: list[Term]) -> list[OrderBy]:
    """The order read backwards: empty values first."""
    return [
        F(name).asc(nulls_first=True) if descending else F(name).desc(nulls_first=True)
        for name, descending in terms
    ]


def _beyond(field, descending: bool, value, backwards: bool) -> Q | None:
    """The rows strictly past ``value`` on one term, in the reading direction (None: none)."""
    name = field.name
    if value is None:  # empty values sort last in both orders
        return Q(**{f"{name}__isnull": False}) if backwards else None
    lookup = "lt" if descending != backwards else "gt"
    condition = Q(**{f"{name}__{lookup}": value})
    if field.null and not backwards:
        condition |= Q(**{f"{name}__isnull": True})
    return condition


def keyset(model, terms: list[Term], values: list, *, backwards: bool) -> list[Q]:
    """The rows after (or before) the row whose sort keys are ``values``, in the reading
    direction: past it on the first term, or equal on the first and past it on the second, and
    so on. They are given in sections, each a range of the list's index that the database can
    seek to (its first term bounded, or empty), to be read one after the other.

    One section, unless the first term may be empty and the rows past the key hold both kinds:
    read forwards from a value, the values past it and then the empty ones (empty values sort
    last); read backwards from an empty one, the empty ones before it and then every value. An
    index holds each kind as one range, but no single condition a database can seek with says
    "past this value, or empty": in one condition, it would read the index from its start."""
    fields = [model._meta.get_field(name) for name, _ in terms]
    first, value, descending = fields[0], values[0], terms[0][1]
    if value is None:
        # Past an empty value: the empty ones past it on the later terms, then, backwards,
        # every value (forwards, there is none).
        sections = [
            Q(**{f"{first.name}__isnull": True})
            & _past(fields[1:], terms[1:], values[1:], backwards)
        ]
        if backwards:
            sections.append(Q(**{f"{first.name}__isnull": False}))
        return sections
    # Past a value: the values from it on, bounded, which also leaves the empty ones out.
    bound = "lte" if descending != backwards else "gte"
    sections = [Q(**{f"{first.name}__{bound}": value}) & _past(fields, terms, values, backwards)]
    if first.null and not backwards:
        sections.append(Q(**{f"{first.name}__isnull": True}))
    return sections


def _past(fields, terms: list[Term], values: list, backwards: bool) -> Q:
    """The rows past ``values`` on these terms, empty values included as they sort; no row
    when there are no terms (the keys are equal)."""
    disjuncts, equal = [], Q()
    for field, (_, descending), value in zip(fields, terms, values, strict=True):
        beyond = _beyond(field, descending, value, backwards)
        if beyond is not None:
            disjuncts.append(equal & beyond)
        equal &= (
            Q(**{field.name: value}) if value is not None else Q(**{f"{field.name}__isnull": True})
        )
    if not disjuncts:
        return Q(pk__in=[])
    condition = disjuncts[0]
    for disjunct in disjuncts[1:]:
        condition |= disjunct
    return condition


def read_past(sections: list[QuerySet], skip: int, size: int, read) -> list:
    """``size`` rows from the ``skip``-th (from 0) of the sections read one after the other:
    ``read(section, bottom, top)`` gives a section's rows from ``bottom`` to ``top``. A later
    section is read only when the earlier ones end within the page (and, when they end before
    it, counted: fewer than ``skip`` rows; with none to skip, an empty section needs no count)."""
    found: list = []
    for number, section in enumerate(sections):
        rows = read(section, skip, skip + size - len(found))
        found += rows
        if len(found) == size or number == len(sections) - 1:
            break
        skip = 0 if rows or not skip else skip - section.count()
    return found


def _plain(value):
    return value.isoformat() if isinstance(value, datetime.date) else value


def encode_cursor(terms: list[Term], values, *, backwards: bool) -> str:
    """A signed cursor for the row with these sort keys, read forwards or backwards from it."""
    payload = {
        "o": [f"-{name}" if descending else name for name, descending in terms],
        "v": [_plain(value) for value in values],
        "b": backwards,
    }
    return signing.dumps(payload, salt=_CURSOR_SALT, compress=True)


def decode_cursor(raw: str, model, terms: list[Term]) -> tuple[list, bool]:
    """The sort keys and direction a cursor holds; a 400 naming ``cursor`` if the server did
    not give it, or gave it for another order."""
    refused = ValidationError(
        {
            CURSOR_PARAMETER: [
                f"Not a cursor of this list: pass '{START}', or the cursor of a 'next' or "
                "'previous' link, as is."
            ]
        }
    )
    if len(raw) > CURSOR_MAX_LENGTH or not _CURSOR_SHAPE.fullmatch(raw):
        raise refused
    try:
        payload = signing.loads(raw, salt=_CURSOR_SALT)
    except signing.BadSignature:
        raise refused from None
    order = [f"-{name}" if descending else name for name, descending in terms]
    if payload.get("o") != order:
        given = ",".join(map(str, payload.get("o") or []))
        raise ValidationError(
            {
                CURSOR_PARAMETER: [
                    f"This cursor pages the list in the order '{given}', not "
                    f"'{','.join(order)}': keep the ordering the cursor was made with."
                ]
            }
        )
    try:
        values = [
            None if value is None else model._meta.get_field(name).to_python(value)
            for (name, _), value in zip(terms, payload["v"], strict=True)
        ]
    except (DjangoValidationError, ValueError, TypeError):  # pragma: no cover - signed
        raise refused from None
    return values, bool(payload.get("b"))


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = DEFAULT_PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE
    page_size_query_param = "page_size"
    page_query_description = "Page number, from 1. A page past the last one answers 404."
    page_size_query_description = (
        f"Results per page, from 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})."
    )
    last_page_strings = ()

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not _WHOLE_NUMBER.fullmatch(raw) or int(raw) > self.max_page_size:
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        f"Must be a whole number from 1 to {self.max_page_size}."
                    ]
                }
            )
        return int(raw)

    def get_page_number(self, request, paginator) -> int:
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if not _WHOLE_NUMBER.fullmatch(raw):
            raise ValidationError({self.page_query_param: ["Must be a whole number from 1."]})
        return int(raw)

    django_paginator_class = CachedCountPaginator

    #: On a page read by cursor: the page's links (next, previous).
    cursor_links: tuple[str | None, str | None] | None = None

    def get_cursor(self, request) -> str | None:
        """The ``cursor`` given, if any; a 400 when it comes with ``page``."""
        raw = request.query_params.get(CURSOR_PARAMETER)
        if raw is not None and self.page_query_param in request.query_params:
            raise ValidationError(
                {
                    CURSOR_PARAMETER: [
                        f"Give either '{CURSOR_PARAMETER}' or '{self.page_query_param}', not both."
                    ]
                }
            )
        return raw

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        paginator = self.django_paginator_class(queryset, self.get_page_size(request))
        paginator.count_key = getattr(view, "count_key", None)
        paginator.positions_key = getattr(view, "positions_key", None)
        paginator.records = getattr(view, "records", None)
        paginator.searched = searched(request, view)
        cursor = self.get_cursor(request)
        if cursor is not None:
            return self.paginate_by_cursor(paginator, cursor)
        number = self.get_page_number(request, paginator)
        try:
            self.page = paginator.page(number)
        except InvalidPage:
            raise NotFound(
                f"Page {number} does not exist: the last page is {paginator.num_pages}."
            ) from None
        if paginator.num_pages > 1:
            self.display_page_controls = True
        return list(self.page)

    def paginate_by_cursor(self, paginator: CachedCountPaginator, cursor: str) -> list:
        """A page found by key from the cursor's record (see the module's docstring)."""
        records = paginator.keys
        model = records.model
        terms = ordering_terms(records)
        size = paginator.per_page
        position, backwards = (None, False)
        sections = [records]
        if cursor != START:
            position, backwards = decode_cursor(cursor, model, terms)
            past = keyset(model, terms, position, backwards=backwards)
            sections = [records.filter(section) for section in past]
        if backwards:
            sections = [section.order_by(*reverse_terms(terms)) for section in sections]
        names = [name for name, _ in terms]
        found = read_past(
            sections,
            0,
            size + 1,
            lambda section, start, stop: list(section.values_list("pk", *names)[start:stop]),
        )
        more, found = len(found) > size, found[:size]
        if backwards:
            found.reverse()

        def link(keys, towards_start: bool) -> str:
            token = encode_cursor(terms, keys, backwards=towards_start)
            url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
            return replace_query_param(url, CURSOR_PARAMETER, token)

        first = found[0][1:] if found else position
        last = found[-1][1:] if found else position
        if backwards:
            previous = link(first, True) if more else None
            following = link(last, False) if last is not None else None
        else:
            following = link(last, False) if more else None
            previous = link(first, True) if position is not None else None
        self.cursor_links = (following, previous)
        self.cursor_count = paginator.count
        if not found:
            return []
        # The rows, in the list's order (the keys were found in it).
        return list(paginator.object_list.filter(pk__in=[pk for pk, *_ in found]))

    def get_next_link(self) -> str | None:
        if self.cursor_links is not None:
            return self.cursor_links[0]
        return super().get_next_link()

    def get_previous_link(self) -> str | None:
        if self.cursor_links is not None:
            return self.cursor_links[1]
        return super().get_previous_link()

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1, "maximum": MAX_PAGE},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds[parameter["name"]])
        if getattr(view, "action", None) == "list":
            parameters.append(
                {
                    "name": CURSOR_PARAMETER,
                    "required": False,
                    "in": "query",
                    "description": (
                        f"Page by key instead of by number: '{START}' for the first page, then "
                        "the cursor of the 'next' or 'previous' link, as is. Stable while "
                        "records are added or removed, and as fast deep in the list as at its "
                        f"start: the way to crawl a list. Not with '{self.page_query_param}'."
                    ),
                    "schema": {
                        "type": "string",
                        "pattern": CURSOR_PATTERN,
                        "maxLength": CURSOR_MAX_LENGTH,
                        "example": START,
                    },
                }
            )
        return parameters

    def get_paginated_response(self, data) -> Response:
        count = self.cursor_count if self.cursor_links is not None else self.page.paginator.count
        return Response(
            {
                "count": count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        described = super().get_paginated_response_schema(schema)
        described["required"] = ["count", "next", "previous", "results"]
        described["properties"]["count"]["description"] = "Number of results on all pages."
        described["properties"]["next"]["description"] = "URL of the next page; null on the last."
        described["properties"]["previous"]["description"] = (
            "URL of the previous page; null on the first."
        )
        described["properties"]["results"]["description"] = "The results on this page."
        return described
