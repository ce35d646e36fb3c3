"""Representations built from rows (api.fast) are exactly what the read serializers give, byte
for byte, for every record of every resource: published or not, with every optional field
empty or set."""

from __future__ import annotations

import json
import zoneinfo

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from api import fast
from api.urls import router
from cryptogroups import models
from tests import factories as f

pytestmark = pytest.mark.django_db

VIEWSETS = {prefix: viewset for prefix, viewset, _ in router.registry}


def request() -> Request:
    return Request(APIRequestFactory().get("/api/v1/", SERVER_NAME="localhost"))


def both(viewset, queryset) -> tuple[str, str]:
    """The queryset's records through the plan and through the serializer, as JSON text (key
    order included)."""
    plan = fast.Plan(viewset.serializer_class, viewset.queryset)
    context = {"request": request()}
    built = plan.represent(plan.rows(queryset), context["request"])
    serialized = viewset.serializer_class(queryset, many=True, context=context).data
    return json.dumps(built, ensure_ascii=False), json.dumps(serialized, ensure_ascii=False)


@pytest.mark.parametrize("resource", sorted(VIEWSETS))
def test_every_public_record_is_built_as_the_serializer_builds_it(resource):
    viewset = VIEWSETS[resource]
    queryset = viewset.queryset.all()
    if isinstance(queryset, models.RecordQuerySet):
        queryset = queryset.public()
    queryset = queryset.order_by("pk")
    assert queryset.exists()

    built, serialized = both(viewset, queryset)

    assert built == serialized


@pytest.mark.parametrize("resource", sorted(VIEWSETS))
def test_records_of_any_status_and_sparse_records_are_built_alike(resource):
    viewset = VIEWSETS[resource]
    # Records with their optional fields empty, and records that are not published, with
    # related records that are not published either.
    draft_platform = f.platform(publication_status="draft")
    group = f.group(platform=draft_platform, publication_status="retracted")
    f.cite(group)
    f.migration(from_group=group, publication_status="draft")
    f.availability(platform=draft_platform)
    f.response(publication_status="draft")
    f.action()
    f.source()

    built, serialized = both(viewset, viewset.queryset.all().order_by("pk"))

    assert built == serialized


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/St_Johns"])
def test_dates_and_times_follow_the_current_time_zone_as_the_serializer_does(zone):
    viewset = VIEWSETS["groups"]
    group = f.group()
    f.cite(group)
    queryset = viewset.queryset.filter(pk=group.pk)

    with timezone.override(zoneinfo.ZoneInfo(zone)):
        built, serialized = both(viewset, queryset)

    assert built == serialized
    offset = "+08:00" if zone == "Asia/Shanghai" else ("-03:30", "-02:30")
    assert json.loads(built)[0]["created_at"].endswith(offset)


def test_a_field_it_cannot_build_from_rows_is_refused_when_compiling():
    class Computed(serializers.ModelSerializer):
        shout = serializers.SerializerMethodField()

        class Meta:
            model = models.Source
            fields = ["slug", "shout"]

        def get_shout(self, source) -> str:
            return source.title.upper()

    with pytest.raises(fast.NotCompilable, match="shout"):
        fast.Plan(Computed, models.Source.objects.all())


def test_a_format_suffix_takes_the_serializer_and_keeps_the_suffix_in_links(api):
    response = api.get("/api/v1/platforms/telegram.json")
    assert response.status_code == 200
    assert response.json()["url"] == "http://testserver/api/v1/platforms/telegram.json"
