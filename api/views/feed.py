"""The changes feed's endpoint (see cryptogroups.feed for what it records)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.db.models import Exists, Subquery
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import (
    ValidationError,
)
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from cryptogroups import models
from cryptogroups.routers import read_from_primary

from .. import changes
from .conditional import ConditionalMixin
from .requests import RequestChecksMixin

DEFAULT_FEED_PAGE = 100
MAX_FEED_PAGE = 500


class ChangesView(RequestChecksMixin, ConditionalMixin, APIView):
    """The changes feed (see api.changes): every create, update, retraction and deletion of
    public data, in commit order, from an opaque cursor."""

    permission_classes = [AllowAny]
    http_method_names = ["get", "head", "options"]
    allowed_parameters = ("after", "page_size", "format")

    def allowed_query_parameters(self) -> dict[str, bool]:
        return dict.fromkeys(self.allowed_parameters, False)

    def initial(self, request, *args, **kwargs):
        # Cursors travel between app servers: the feed is read where every cursor was made.
        read_from_primary()
        super().initial(request, *args, **kwargs)
        # One statement, so one snapshot: the version, the last entry and whether the feed is
        # catching up. A page holds entries up to that last one only: every entry at or below it
        # had committed when the feed said whether it was catching up.
        state = (
            models.DatasetVersion.objects.filter(pk=1)
            .annotate(
                latest=Subquery(models.Change.objects.order_by("-pk").values("pk")[:1]),
                fanning_out=Exists(models.PendingFanout.objects.all()),
            )
            .first()
        )
        self.dataset_version = state or models.DatasetVersion(pk=1)
        self.latest = (state.latest or 0) if state else 0
        self.catching_up = bool(state and state.fanning_out)

    def etag(self, request, path=None, media_type=None) -> str:
        tag = super().etag(request, path, media_type)
        return f'{tag[:-1]}-catching-up"' if self.catching_up else tag

    def current_validators(self, request):
        etag, stamp = super().current_validators(request)
        # The feed can stop catching up with no move of the version (the last batch appended
        # nothing): a page that says it is catching up is compared by its tag alone, which
        # says so.
        return etag, None if self.catching_up else stamp

    @extend_schema(
        operation_id="changes_list",
        parameters=[
            OpenApiParameter(
                "after",
                OpenApiTypes.STR,
                description="A cursor from an earlier page (`complete_through`, or an entry's "
                "`cursor`): the feed continues after it. Leave it out to read from the start.",
                pattern=r"^[A-Za-z0-9_-]{16}$",
            ),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": MAX_FEED_PAGE},
                description=f"Entries per page, from 1 to {MAX_FEED_PAGE} (default "
                f"{DEFAULT_FEED_PAGE}).",
            ),
        ],
        responses=changes.ChangesPageSerializer,
        description="Every create, update, retraction and deletion of public data, in commit "
        "order. Replay it from the start into an empty store and you hold the public dataset; "
        "keep `complete_through` and ask again with `after` to stay in sync. A change that "
        "reaches many records (a platform embedded in thousands of groups) appends its own "
        "entry at once and those of the records embedding it in batches after it: "
        "`catching_up` is true until they are all in. Tombstones are kept for good.",
    )
    def get(self, request) -> Response:
        after = (
            changes.decode_cursor(request.query_params["after"])
            if "after" in request.query_params
            else 0
        )
        size = feed_page_size(request)
        if after > self.latest:
            raise ValidationError(
                {"after": ["This cursor is ahead of the feed: it was not given by this server."]}
            )
        if unchanged := self.unchanged(request):
            return unchanged
        rows = list(
            models.Change.objects.filter(pk__gt=after, pk__lte=self.latest).order_by("pk")[
                : size + 1
            ]
        )
        more = len(rows) > size
        rows = rows[:size]
        through = changes.encode_cursor(rows[-1].pk if rows else after)
        next_url = None
        if more:
            next_url = request.build_absolute_uri(
                f"{request.path}?{urlencode({'after': through, 'page_size': size})}"
            )
        return Response(
            {
                "complete_through": through,
                "next": next_url,
                "catching_up": self.catching_up,
                "results": changes.ChangeSerializer(
                    rows, many=True, context={"request": request}
                ).data,
            }
        )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        self.validators(request, response)
        return response


_FEED_PAGE_SIZE = re.compile(r"[1-9][0-9]{0,3}")


def feed_page_size(request) -> int:
    raw = request.query_params.get("page_size")
    if raw is None:
        return DEFAULT_FEED_PAGE
    if not _FEED_PAGE_SIZE.fullmatch(raw) or int(raw) > MAX_FEED_PAGE:
        raise ValidationError({"page_size": [f"Must be a whole number from 1 to {MAX_FEED_PAGE}."]})
    return int(raw)
