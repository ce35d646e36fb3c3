"""The floor: the groups endpoints written by hand as plain Django views, to measure the API
against.

Each view answers a query the API answers (the list with ``page``, ``page_size``, ``platform``
and ``search``, and the detail) with the same bytes, at the least cost Django allows: one
``.values()`` query for the page (the platform joined; the page's keys found in a subquery that
an index answers alone), one per embedded list (exchange links; citations with their sources),
a count for lists, dictionaries built by hand, ``orjson`` and the same escaping of U+2028 and
U+2029 as the API's renderer. No DRF, no validation, no content negotiation, no conditional
requests, no cache: what is left is the work any view that gives these bytes must do.

The ceiling (``constant``) is a Django view that answers a body of a given size it holds in
memory, with no query and no work: through the same middleware, what no view can beat.
A cached answer and a 304 are compared with it.

The floor is routed by ``bench.urls`` only (``bench.settings``), never in production.
``tests/test_bench.py`` checks that it gives the API's bytes.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from urllib.parse import parse_qs, urlencode

import orjson
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, Subquery
from django.http import Http404, HttpResponse
from django.utils.encoding import iri_to_uri

from cryptogroups.models import Citation, Exchange, Group, GroupExchange, Organization, Platform

#: The API's paths: the floor's links point where the API's do.
API = "/api/v1/"
GROUPS = f"{API}groups/"

PUBLISHED = "published"
DEFAULT_PAGE_SIZE = 20

GROUP_COLUMNS = (
    "id",
    "slug",
    "publication_status",
    "name",
    "platform__slug",
    "platform__name",
    "group_type",
    "language",
    "is_aggregate",
    "aggregate_count",
    "aggregate_count_qualifier",
    "member_count",
    "member_count_qualifier",
    "member_count_as_of_date",
    "member_count_as_of_precision",
    "member_count_as_of_qualifier",
    "status",
    "status_as_of_date",
    "status_as_of_precision",
    "status_as_of_qualifier",
    "description",
    "created_at",
    "updated_at",
)

EXCHANGE_COLUMNS = ("group_id", "exchange__slug", "exchange__name", "affiliation")

CITATION_COLUMNS = (
    "object_id",
    "source__slug",
    "source__title",
    "source__publisher",
    "source__url",
    "field_name",
    "quote",
    "verbatim",
    "support",
    "locator",
    "note",
    "checked_on",
    "source_text",
)


# What is public, as Record.objects.public() has it: published, and every record reached by a
# foreign key public too, down to the same depth (an organisation's parents are followed
# three or four levels up).


def public_organizations(depth: int):
    parents = (
        public_organizations(depth - 1)
        if depth > 1
        else Organization.objects.filter(publication_status=PUBLISHED)
    )
    return Organization.objects.filter(
        Q(parent__isnull=True) | Q(parent__in=parents.values("pk")),
        publication_status=PUBLISHED,
    )


def public_with_operator(model, depth: int):
    return model.objects.filter(
        Q(operator__isnull=True) | Q(operator__in=public_organizations(depth - 1).values("pk")),
        publication_status=PUBLISHED,
    )


# A group's visibility is kept on its row (cryptogroups.visibility): the floor reads the flag.
# Built once: each request starts from a copy (querysets are lazy; nothing is read here).
PUBLIC_GROUPS = Group.objects.filter(is_public=True)
PUBLIC_EXCHANGES = public_with_operator(Exchange, 4).values("pk")


# Representation -----------------------------------------------------------------------------


def timestamp(value: datetime.datetime) -> str:
    text = value.astimezone(datetime.UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def partial_date(date: datetime.date | None, precision: str, qualifier: str) -> dict | None:
    if date is None:
        return None
    if precision == "year":
        value = f"{date.year:04d}"
    elif precision == "month":
        value = f"{date.year:04d}-{date.month:02d}"
    else:
        value = date.isoformat()
    return {
        "value": value,
        "date": date.isoformat(),
        "precision": precision,
        "qualifier": qualifier,
    }


def group_dict(row: dict, base: str, exchanges: list, citations: list) -> dict:
    member_count = None
    if row["member_count"] is not None:
        member_count = {
            "value": row["member_count"],
            "qualifier": row["member_count_qualifier"],
            "as_of": partial_date(
                row["member_count_as_of_date"],
                row["member_count_as_of_precision"],
                row["member_count_as_of_qualifier"],
            ),
        }
    aggregate_count = None
    if row["aggregate_count"] is not None:
        aggregate_count = {
            "value": row["aggregate_count"],
            "qualifier": row["aggregate_count_qualifier"],
        }
    return {
        "slug": row["slug"],
        "url": f"{base}{GROUPS}{row['slug']}/",
        "publication_status": row["publication_status"],
        "name": row["name"],
        "platform": {
            "slug": row["platform__slug"],
            "name": row["platform__name"],
            "url": f"{base}{API}platforms/{row['platform__slug']}/",
        },
        "group_type": row["group_type"],
        "language": row["language"],
        "is_aggregate": row["is_aggregate"],
        "aggregate_count": aggregate_count,
        "member_count": member_count,
        "status": row["status"],
        "status_as_of": partial_date(
            row["status_as_of_date"], row["status_as_of_precision"], row["status_as_of_qualifier"]
        ),
        "exchanges": exchanges,
        "description": row["description"],
        "citations": citations,
        "created_at": timestamp(row["created_at"]),
        "updated_at": timestamp(row["updated_at"]),
    }


def represent(rows: list[dict], base: str) -> list[dict]:
    """The groups of ``rows``, with their exchanges and citations (one query each)."""
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    exchanges = defaultdict(list)
    links = (
        GroupExchange.objects.filter(
            group_id__in=ids,
            exchange__in=PUBLIC_EXCHANGES,
        )
        .order_by("exchange__name", "exchange__slug")
        .values_list(*EXCHANGE_COLUMNS)
    )
    for group_id, slug, name, affiliation in links:
        exchanges[group_id].append(
            {
                "slug": slug,
                "name": name,
                "url": f"{base}{API}exchanges/{slug}/",
                "affiliation": affiliation,
            }
        )
    citations = defaultdict(list)
    cited = (
        Citation.objects.filter(
            content_type_id=ContentType.objects.get_for_model(Group).pk, object_id__in=ids
        )
        .order_by("id")
        .values_list(*CITATION_COLUMNS)
    )
    for row in cited:
        group_id, slug, title, publisher, url, field, quote, verbatim, *rest = row
        support, locator, note, checked_on, source_text = rest
        citations[group_id].append(
            {
                "source": {
                    "slug": slug,
                    "title": title,
                    "publisher": publisher,
                    "document_url": url,
                    "url": f"{base}{API}sources/{slug}/",
                },
                "field": field,
                "quote": quote,
                "verbatim": verbatim,
                "support": support,
                "locator": locator,
                "note": note,
                "checked_on": checked_on.isoformat() if checked_on else None,
                "source_text": source_text,
            }
        )
    return [group_dict(row, base, exchanges[row["id"]], citations[row["id"]]) for row in rows]


def json_response(data) -> HttpResponse:
    body = orjson.dumps(data)
    body = body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return HttpResponse(body, content_type="application/json")


def page_link(base: str, query: dict[str, list[str]], page: int) -> str:
    """The URL of another page of the same list, as DRF's pagination writes it: the request's
    parameters with ``page`` set (or removed for the first page), sorted by name."""
    query = dict(query)
    if page == 1:
        query.pop("page", None)
    else:
        query["page"] = [str(page)]
    encoded = urlencode(sorted(query.items()), doseq=True)
    return f"{base}{GROUPS}?{encoded}" if encoded else f"{base}{GROUPS}"


# Views ------------------------------------------------------------------------------------------


def group_list(request) -> HttpResponse:
    base = f"{request.scheme}://{request.get_host()}"
    query = parse_qs(iri_to_uri(request.META.get("QUERY_STRING", "")), keep_blank_values=True)
    groups = PUBLIC_GROUPS
    if "platform" in request.GET:
        # The platform's id from its slug in a subquery: the condition is then on the column
        # that leads an index in the list's order.
        platform = Platform.objects.filter(slug=request.GET["platform"]).values("pk")[:1]
        groups = groups.filter(platform=Subquery(platform))
    for word in request.GET.get("search", "").replace(",", " ").split():
        groups = groups.filter(Q(name__icontains=word) | Q(description__icontains=word))
    size = int(request.GET.get("page_size", DEFAULT_PAGE_SIZE))
    number = int(request.GET.get("page", 1))
    count = groups.count()
    pages = max(1, -(-count // size))
    if number > pages:
        raise Http404
    start = (number - 1) * size
    # The page's keys first, which an index answers alone, then their rows: a deep page skips
    # index entries rather than whole rows.
    keys = groups.order_by("name", "slug").values("pk")[start : start + size]
    page = Group.objects.filter(pk__in=Subquery(keys)).order_by("name", "slug")
    rows = list(page.values(*GROUP_COLUMNS))
    return json_response(
        {
            "count": count,
            "next": page_link(base, query, number + 1) if number < pages else None,
            "previous": page_link(base, query, number - 1) if number > 1 else None,
            "results": represent(rows, base),
        }
    )


def group_detail(request, slug: str) -> HttpResponse:
    base = f"{request.scheme}://{request.get_host()}"
    rows = list(PUBLIC_GROUPS.filter(slug=slug).values(*GROUP_COLUMNS))
    if not rows:
        raise Http404
    return json_response(represent(rows, base)[0])


#: The ceiling's bodies, by size, made once per process.
_constant_bodies: dict[int, bytes] = {}
MAX_CONSTANT_BYTES = 10_000_000


def constant(request) -> HttpResponse:
    """The ceiling: ``?bytes=N`` spaces in a JSON array, the same bytes every time."""
    try:
        size = int(request.GET.get("bytes", "2"))
    except ValueError:
        raise Http404 from None
    if not 2 <= size <= MAX_CONSTANT_BYTES:
        raise Http404
    body = _constant_bodies.get(size)
    if body is None:
        body = _constant_bodies[size] = b"[" + b" " * (size - 2) + b"]"
    return HttpResponse(body, content_type="application/json")
