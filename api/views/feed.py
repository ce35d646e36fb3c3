"""The changes feed's endpoint (see cryptogroups.feed for what it records)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

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
        self.dataset_version = models.DatasetVersion.current()

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
        "keep `complete_through` and ask again with `after` to stay in sync. Tombstones are "
        "kept for good.",
    )
    def get(self, request) -> Response:
        after = (
            changes.decode_cursor(request.query_params["after"])
            if "after" in request.query_params
            else 0
        )
        size = feed_page_size(request)
        latest = models.Change.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        if after > latest:
            raise ValidationError(
                {"after": ["This cursor is ahead of the feed: it was not given by this server."]}
            )
        if unchanged := self.unchanged(request):
            return unchanged
        rows = list(models.Change.objects.filter(pk__gt=after).order_by("pk")[: size + 1])
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
