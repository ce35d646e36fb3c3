"""Page-number pagination that refuses what it cannot honour instead of guessing.

``page_size`` defaults to 20 and may be set from 1 to 100 (``MAX_PAGE_SIZE``); outside that
range, or when it is not a whole number, the answer is a 400 naming the parameter. ``page`` is a
whole number from 1; a malformed page is a 400 and a page past the last one is a 404.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.paginator import InvalidPage
from django.core.paginator import Paginator as DjangoPaginator
from django.db.models import QuerySet, Subquery
from django.utils.functional import cached_property
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from . import cache as api_cache

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

_WHOLE_NUMBER = re.compile(r"[1-9][0-9]{0,8}")
MAX_PAGE = 999_999_999


class CachedCountPaginator(DjangoPaginator):
    """Django's paginator, with the count kept in the cache under the dataset's version and
    the list's filters (``count_key``): every page of a list shares it, and counting a large
    table is done once per version."""

    count_key: str | None = None

    def page(self, number):
        """A page of rows. The page's primary keys are found first, in a subquery that an
        index can answer alone (see the indexes of Group), and only those rows are read: a
        deep page then skips index entries, not whole rows."""
        page = super().page(number)
        rows = self.object_list
        if isinstance(rows, QuerySet) and rows.query.values_select and not rows.query.distinct:
            bottom = (page.number - 1) * self.per_page
            keys = self.keys.values("pk")[bottom : bottom + self.per_page]
            page.object_list = rows.filter(pk__in=Subquery(keys))
        return page

    @property
    def keys(self) -> QuerySet:
        """The records in order, without the joins the page's columns need: those would keep
        the database from answering from an index alone."""
        return self.records if self.records is not None else self.object_list

    #: The filtered, ordered records the rows are read from (set by the view), if known.
    records: QuerySet | None = None

    @cached_property
    def count(self) -> int:
        def count() -> int:
            if self.records is None:
                return DjangoPaginator.count.func(self)
            return self.records.count()

        if self.count_key is None:
            return count()
        return api_cache.get_or_set(self.count_key, count, settings.API_COUNT_CACHE_SECONDS)


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

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        paginator = self.django_paginator_class(queryset, self.get_page_size(request))
        paginator.count_key = getattr(view, "count_key", None)
        paginator.records = getattr(view, "records", None)
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

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1, "maximum": MAX_PAGE},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds[parameter["name"]])
        return parameters

    def get_paginated_response(self, data) -> Response:
        return Response(
            {
                "count": self.page.paginator.count,
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
